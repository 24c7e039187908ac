import { afterAll, beforeAll, onTestFinished, TestRunner } from 'vitest';

/** Stops or removes one thing a test helper started. */
export type Cleanup = () => unknown;

/**
 * Where a helper was called decides when its cleanup can run. vitest's `afterAll` only counts
 * while a file is being collected (file top level, a describe body): registered from inside a
 * test or a hook it is silently dropped. `onTestFinished` only works inside a test and throws
 * elsewhere. So:
 *
 * - inside a running test (vitest's own notion of the current test, the same check
 *   `onTestFinished` makes before throwing): `onTestFinished`, which runs when that test ends,
 *   passed, failed or timed out, before the next test starts;
 * - while the file is being collected: `afterAll` of the enclosing describe, or of the file;
 * - anywhere else (a `beforeAll`/`afterAll` hook, a `test.concurrent` test, whose current test
 *   vitest does not track): at the end of the file, by the `afterAll` below.
 *
 * Cleanups run in reverse order of registration, like vitest's hooks: the last thing started is
 * the first stopped. Each runs at most once.
 */
export function registerCleanup(fn: Cleanup): void {
  let ran = false;
  const once = async (): Promise<void> => {
    if (ran) return;
    ran = true;
    await fn();
  };
  const test = TestRunner.getCurrentTest();
  if (test !== undefined && test.concurrent !== true) {
    // vitest runs every onTestFinished callback even when one throws, and fails the test with it.
    onTestFinished(once);
  } else if (!fileRunning) {
    afterAll(guarded(once));
  } else {
    atFileEnd.push(guarded(once));
  }
}

// This module is evaluated while the test file that imports the helpers is collected (vitest's
// default isolation evaluates it again for every file), so these two hooks are the file's own:
// the first beforeAll of the file, and the afterAll that runs after all the others.
let fileRunning = false;
const atFileEnd: (() => Promise<void>)[] = [];
const failures: unknown[] = [];

beforeAll(() => {
  fileRunning = true;
});

afterAll(async () => {
  for (let next = atFileEnd.pop(); next !== undefined; next = atFileEnd.pop()) await next();
  const errors = failures.splice(0);
  if (errors.length > 0) throw new AggregateError(errors, `${errors.length} test cleanup(s) failed (each printed above); every other cleanup still ran`);
});

/**
 * vitest stops running a suite's afterAll hooks at the first one that throws, which would leave
 * everything registered before it running. An afterAll cleanup therefore never throws: its error
 * is printed at once and thrown at the end of the file, after every cleanup has had its turn.
 */
function guarded(run: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await run();
    } catch (err) {
      failures.push(err);
      process.stderr.write(`test cleanup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
  };
}
