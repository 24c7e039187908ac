import { TraceLedgerError } from '@traceledger/core';

export const IngestErrorCode = {
  AllRejected: 'TL_INGEST_ALL_REJECTED',
  KafkaUnavailable: 'TL_INGEST_KAFKA_UNAVAILABLE',
  TooManyEvents: 'TL_INGEST_TOO_MANY_EVENTS',
} as const;

/** An ingest error a client sees. */
export class IngestError extends TraceLedgerError {
  constructor(code: string, message: string, statusCode: number, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, { statusCode, ...options });
    this.name = 'IngestError';
  }
}
