import { TraceLedgerError } from '@traceledger/core';

export const ConsumerErrorCode = {
  /** The database refused a batch for a reason no record can be blamed for (schema, permission, a bug). */
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

/** Whether a failed fold may succeed unchanged (the ledger's classification, packages/db/src/ledger/failures.ts). */
export { isTransientDbError } from '@traceledger/db';
