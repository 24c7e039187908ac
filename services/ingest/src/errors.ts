import { TraceLedgerError } from '@traceledger/core';

export const IngestErrorCode = {
  AllRejected: 'TL_INGEST_ALL_REJECTED',
  KafkaUnavailable: 'TL_INGEST_KAFKA_UNAVAILABLE',
  TooManyEvents: 'TL_INGEST_TOO_MANY_EVENTS',
  BodyTooLarge: 'TL_INGEST_BODY_TOO_LARGE',
  UnsupportedEncoding: 'TL_INGEST_UNSUPPORTED_ENCODING',
  BadEncoding: 'TL_INGEST_BAD_ENCODING',
  BadUtf8: 'TL_INGEST_BAD_UTF8',
  RateLimited: 'TL_INGEST_RATE_LIMITED',
  BadIdempotencyKey: 'TL_INGEST_BAD_IDEMPOTENCY_KEY',
  IdempotencyMismatch: 'TL_INGEST_IDEMPOTENCY_MISMATCH',
  IdempotencyInProgress: 'TL_INGEST_IDEMPOTENCY_IN_PROGRESS',
  DatabaseUnavailable: 'TL_INGEST_DATABASE_UNAVAILABLE',
  BadOtlp: 'TL_INGEST_BAD_OTLP',
  UnsupportedMediaType: 'TL_INGEST_UNSUPPORTED_MEDIA_TYPE',
} as const;

/** An ingest error a client sees; `retryAfterSeconds` becomes a Retry-After header. */
export class IngestError extends TraceLedgerError {
  readonly retryAfterSeconds: number | undefined;

  constructor(code: string, message: string, statusCode: number, options: { cause?: unknown; retriable?: boolean; retryAfterSeconds?: number } = {}) {
    super(code, message, { statusCode, ...options });
    this.name = 'IngestError';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}
