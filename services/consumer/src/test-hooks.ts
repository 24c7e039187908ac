import { writeSync } from 'node:fs';
import type { Logger } from 'pino';

/**
 * Points where a fault test can act inside the batch path. Production passes none; main builds
 * them from TL_TEST_* settings (packages/config) so a test can crash or stall a real process at
 * an exact moment instead of guessing with timers.
 */
export interface BatchHooks {
  /** Before the database transaction of a batch, after its heartbeat. */
  beforeFold?(): Promise<void>;
  /** Inside each fold's ledger transaction, with its locks held, just before COMMIT. */
  beforeCommit?(): Promise<void>;
  /** After the database transaction committed, before the offsets are committed. */
  afterFold?(): Promise<void>;
}

/**
 * Hooks for fault tests: SIGKILL this process right after the `crashAfterDbCommit`-th database
 * commit (so its offsets are never committed), hold the `stall.batch`-th batch for `stall.ms`
 * without heartbeats (so the group coordinator gives its partition away), and hold every fold's
 * transaction `holdBeforeCommitMs` with its locks taken (so operator commands meet it mid-way).
 */
export function faultTestHooks(
  settings: { crashAfterDbCommit: number | null; stall: { batch: number; ms: number } | null; holdBeforeCommitMs?: number | null },
  logger: Logger,
): BatchHooks | undefined {
  const { crashAfterDbCommit, stall } = settings;
  const hold = settings.holdBeforeCommitMs ?? null;
  if (crashAfterDbCommit === null && stall === null && hold === null) return undefined;
  let folded = 0;
  let started = 0;
  return {
    ...(hold === null ? {} : { beforeCommit: () => new Promise<void>((resolve) => setTimeout(resolve, hold)) }),
    async beforeFold() {
      started += 1;
      if (stall !== null && started === stall.batch) {
        logger.warn({ batch: started, ms: stall.ms }, 'test hook: stalling this batch without heartbeats');
        await new Promise((resolve) => setTimeout(resolve, stall.ms));
        logger.warn({ batch: started }, 'test hook: stall over');
      }
    },
    async afterFold() {
      folded += 1;
      if (crashAfterDbCommit !== null && folded === crashAfterDbCommit) {
        // The line must reach stdout before the process dies, and SIGKILL runs no exit handlers:
        // pino's stdout writes are asynchronous (flush() returns before the bytes are out), so this
        // one line is written synchronously, in pino's shape.
        await new Promise<void>((resolve) => logger.flush(() => resolve()));
        writeSync(1, `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, batch: folded, msg: 'test hook: SIGKILL after the database commit, before the offset commit' })}\n`);
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => undefined);
      }
    },
  };
}
