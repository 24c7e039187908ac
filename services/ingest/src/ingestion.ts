import type { FastifyRequest } from 'fastify';
import type { EventLog } from './event-log.js';
import type { IngestMetrics } from './metrics.js';

/** What every route plugin of ingest takes events in through (decorated by buildIngestApp). */
export interface Ingestion {
  /** The topic, with acks=all. */
  log: EventLog;
  /** Takes `n` events from the caller's rate-limit bucket; throws 429 with Retry-After when it is empty. */
  takeEvents(request: FastifyRequest, n: number): void;
  metrics: IngestMetrics;
  /** Clock in epoch milliseconds. */
  now(): number;
  /** Largest event as compact JSON, in bytes. */
  maxEventBytes: number;
  /** Most events (or spans) in one request. */
  maxBatchEvents: number;
  retryAfterSeconds: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    ingestion: Ingestion;
  }
}
