import { TraceLedgerError } from '@traceledger/core';

/**
 * How a failed ledger transaction is handled, decided on error classes and SQLSTATEs, never text:
 * - `transient`: the statement was fine and the server or connection was not (retry in place);
 * - `record`: the database refused the data (a value it cannot store, a constraint): the fault of
 *   one or more records of the batch, which are found and dead-lettered (`isolateRefused`);
 * - `fatal`: neither, e.g. a missing table or a programming error: no record can be blamed and
 *   retrying cannot help, so it cannot be isolated.
 */
export type FailureKind = 'transient' | 'record' | 'fatal';

// 08 connection exception, 40 transaction rollback (serialization, deadlock), 53 insufficient
// resources, 57 operator intervention (admin/crash shutdown, cannot connect now), 58 system error.
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
const TRANSIENT_STATES = new Set(['55P03']); // lock_not_available
// 22 data exception (encoding, numeric range, bad datetime, …), 23 integrity constraint
// violation, 54 program limit exceeded (a value too large to store).
const RECORD_CLASSES = new Set(['22', '23', '54']);
const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

/** The SQLSTATE of an error the Postgres server reported, else null. */
export function sqlstateOf(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string' ? code : null;
}

/** Classifies a failed ledger transaction (see FailureKind). */
export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof TraceLedgerError) return err.retriable ? 'transient' : 'fatal';
  if (!(err instanceof Error)) return 'fatal';
  if (PROGRAMMING_ERRORS.has(err.name)) return 'fatal';
  const state = sqlstateOf(err);
  // A driver error with no SQLSTATE (connection refused, reset, terminated mid-transaction) is
  // the connection failing, not the statement.
  if (state === null) return 'transient';
  if (TRANSIENT_CLASSES.has(state.slice(0, 2)) || TRANSIENT_STATES.has(state)) return 'transient';
  return RECORD_CLASSES.has(state.slice(0, 2)) ? 'record' : 'fatal';
}

/** True when a failed transaction may succeed if tried again unchanged. */
export function isTransientDbError(err: unknown): boolean {
  return classifyFailure(err) === 'transient';
}

/** An item the database refused, with its reason. */
export interface Refusal<T> {
  item: T;
  error: unknown;
  sqlstate: string | null;
  reason: string;
}

/**
 * Applies `items` with `attempt` (one transaction per call); when the database refuses the
 * whole for a reason of the data (`record`), splits it in halves and tries each in its own
 * transaction, down to single items, so exactly the refused items are returned and every other
 * item is applied. Any other failure is rethrown (the caller retries transients inside
 * `attempt`). Returns the results of the successful attempts and the refusals.
 */
export async function isolateRefused<T, R>(items: readonly T[], attempt: (subset: readonly T[]) => Promise<R>): Promise<{ results: { items: readonly T[]; result: R }[]; refused: Refusal<T>[] }> {
  const results: { items: readonly T[]; result: R }[] = [];
  const refused: Refusal<T>[] = [];
  const run = async (subset: readonly T[]): Promise<void> => {
    if (subset.length === 0) return;
    try {
      results.push({ items: subset, result: await attempt(subset) });
    } catch (err) {
      if (classifyFailure(err) !== 'record') throw err;
      if (subset.length === 1) {
        refused.push({ item: subset[0] as T, error: err, sqlstate: sqlstateOf(err), reason: err instanceof Error ? err.message : String(err) });
        return;
      }
      const half = Math.ceil(subset.length / 2);
      await run(subset.slice(0, half));
      await run(subset.slice(half));
    }
  };
  await run(items);
  return { results, refused };
}
