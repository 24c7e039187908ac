import { TraceLedgerError } from '@traceledger/core';

export const ConsumerErrorCode = {
  /** The database refused a batch in a way retrying cannot fix (schema, constraint, permission). */
  FoldFailed: 'TL_CONSUMER_FOLD_FAILED',
  /** A batch given up while the database was down, because the consumer is stopping or lost the partition. */
  BatchAbandoned: 'TL_CONSUMER_BATCH_ABANDONED',
  /** The watchdog saw no batch complete for its whole period while records were waiting. */
  Stalled: 'TL_CONSUMER_STALLED',
} as const;

/** An error of the consumer service; `retriable` tells kafkajs whether to restart or give up. */
export class ConsumerError extends TraceLedgerError {
  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, options);
    this.name = 'ConsumerError';
  }
}

// SQLSTATE classes where the statement was fine and the server or the connection was not:
// 08 connection exception, 40 transaction rollback (serialization, deadlock), 53 insufficient
// resources, 57 operator intervention (admin/crash shutdown, cannot connect now), 58 system error.
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57', '58']);
const TRANSIENT_SQLSTATES = new Set(['55P03']); // lock_not_available
const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

/**
 * True when a failed fold may succeed if tried again unchanged: the database was unreachable,
 * restarting, or rolled the transaction back for concurrency. An error the server reports with
 * a SQLSTATE outside those classes, or a programming error, is permanent. A driver error with
 * no SQLSTATE (connection refused, reset, or terminated mid-transaction) is the connection
 * failing, not the statement: transient. Decided on error classes and codes, never on text.
 */
export function isTransientDbError(err: unknown): boolean {
  if (err instanceof TraceLedgerError) return err.retriable;
  if (!(err instanceof Error)) return false;
  if (PROGRAMMING_ERRORS.has(err.name)) return false;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  const isServerError = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
  if (!isServerError) return true;
  return TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2)) || TRANSIENT_SQLSTATES.has(code);
}
