import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Authenticator } from '@traceledger/auth';
import { LIMITS, type EventCodec } from '@traceledger/contract';
import type { Pool } from '@traceledger/db';
import type { Publisher } from '@traceledger/kafka';
import { clientErrorHandler, createMetricsRegistry, errorHandler, notFoundHandler, registerOperatorRoutes, requireScope, type ReadinessCheck } from '@traceledger/http';
import type { Registry } from 'prom-client';
import { registerBodyReading } from './body.js';
import { IngestError, IngestErrorCode } from './errors.js';
import { EventLog } from './event-log.js';
import { IdempotencyStore } from './idempotency.js';
// The `ingestion` decoration's type (a module augmentation only).
import type {} from './ingestion.js';
import { ingestMetrics } from './metrics.js';
import { otlpRoutes } from './otlp/routes.js';
import { TraceStore } from './otlp/trace-store.js';
import { KeyedTokenBuckets } from './rate-limit.js';
import { eventRoutes } from './routes/events.js';
import { legacyRoutes } from './routes/legacy.js';

export type { EventResult } from './routes/events.js';

/** What the ingest app needs from the outside world. */
export interface IngestDeps {
  publisher: Publisher;
  codec: EventCodec;
  logger: Logger;
  /** Clock in epoch milliseconds (tests pin it). */
  now?: () => number;
  /** Who a request acts for: API keys with the ingest scope (the tenant comes from the key). */
  auth: Authenticator;
  /** Postgres: the answers of requests with an Idempotency-Key (`idempotency_keys`). */
  pool: Pool;
  /** Where `/metrics` reads from (default: a registry of this app's own). */
  registry?: Registry;
  /** What `/metrics` answers, when not `registry`'s own (a cluster worker: the sum over all workers). */
  metricsText?: () => Promise<string>;
  /** What `/ready` checks (main.ts: Kafka and Postgres); none: ready while the process answers. */
  readiness?: readonly ReadinessCheck[];
}

export interface IngestOptions {
  topic: string;
  maxBodyBytes: number;
  maxBatchEvents: number;
  retryAfterSeconds: number;
  /** How long to wait for Kafka's acknowledgement before answering 503, in ms. */
  publishTimeoutMs?: number;
  /** Largest event of a batch as compact JSON, in bytes (default 32 KiB); a larger one is rejected with TL_EVENT_TOO_LARGE. */
  maxEventBytes?: number;
  /** Per-key token buckets (0 turns one off); absent: no rate limit. */
  rateLimit?: { requestsPerSecond: number; eventsPerSecond: number; burstSeconds: number };
  /** Time a client has to send a whole request, in ms (default 30 s); slower ones get 408 and the connection is closed. */
  requestTimeoutMs?: number;
  /** A connection on which nothing moves for this long is closed, in ms (default 60 s). */
  idleTimeoutMs?: number;
  /** How long the answer to an Idempotency-Key is replayed, in ms (default 24 h). */
  idempotencyTtlMs?: number;
  /** How long a request waits for another one holding the same Idempotency-Key before it gets 409, in ms (default: the publish timeout + 2 s). */
  idempotencyWaitMs?: number;
}

/**
 * The ingest HTTP app. It answers only after Kafka acknowledged every event it reports as
 * accepted: a 2xx never covers an event the broker did not take.
 */
export function buildIngestApp(deps: IngestDeps, options: IngestOptions): FastifyInstance {
  const now = deps.now ?? Date.now;
  const publishTimeoutMs = options.publishTimeoutMs ?? 10_000;
  const maxEventBytes = options.maxEventBytes ?? LIMITS.maxEventBytes;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: options.maxBodyBytes,
    // Slow clients (slow-loris): the whole request must arrive within requestTimeoutMs, its
    // headers within 10 s; Node checks every second instead of every 30 s; a silent connection
    // is closed after idleTimeoutMs. Fastify's defaults leave the first and last off.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: options.idleTimeoutMs ?? 60_000,
    http: { headersTimeout: Math.min(10_000, requestTimeoutMs), connectionsCheckingInterval: Math.min(1000, requestTimeoutMs) },
    clientErrorHandler: clientErrorHandler('TL_INGEST'),
    // Type coercion would turn "12" into 12 and hide producer bugs; the contract checks types.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
  });
  const registry = deps.registry ?? createMetricsRegistry('ingest');
  const metrics = ingestMetrics(registry);
  app.setErrorHandler(errorHandler('TL_INGEST'));
  app.setNotFoundHandler(notFoundHandler('TL_INGEST'));
  requireScope(app, deps.auth, 'ingest');
  registerOperatorRoutes(app, { registry, readiness: deps.readiness ?? [], ...(deps.metricsText === undefined ? {} : { metrics: deps.metricsText }) });
  // The OpenAPI document at /docs/json (browsable at /docs). Routes are declared in a plugin
  // registered after it, so its onRoute hook sees them.
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'traceledger ingest API',
        version: '1',
        description:
          'Trace events in, answered only after Kafka acknowledged them. Authenticate with an ingest-scope API key: `Authorization: Bearer <key>`. Each event is checked against contract v1 (docs/contract.md); a batch answer reports every event as accepted or rejected with a code naming the field.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
  registerBodyReading(app, options.maxBodyBytes);

  // Per-key rate limits. Requests are counted on arrival, after the key is known and before the
  // body is read; events once the batch is parsed.
  const limit = options.rateLimit;
  const requestBuckets = limit && limit.requestsPerSecond > 0 ? new KeyedTokenBuckets(limit.requestsPerSecond, Math.max(1, limit.requestsPerSecond * limit.burstSeconds)) : null;
  // A bucket always holds at least one full batch, or the largest batches could never pass.
  const eventBuckets =
    limit && limit.eventsPerSecond > 0 ? new KeyedTokenBuckets(limit.eventsPerSecond, Math.max(options.maxBatchEvents, limit.eventsPerSecond * limit.burstSeconds)) : null;
  const rateLimited = (what: string, waitMs: number): IngestError => {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new IngestError(IngestErrorCode.RateLimited, `this API key is over its rate of ${what}; retry after ${seconds} s`, 429, { retriable: true, retryAfterSeconds: seconds });
  };
  if (requestBuckets !== null) {
    app.addHook('onRequest', async (request) => {
      if (request.principal === null) return; // a public route
      const waitMs = requestBuckets.take(request.principal.keyId, 1, now());
      if (waitMs > 0) throw rateLimited(`${requestBuckets.ratePerSecond} requests per second`, waitMs);
    });
  }
  function takeEvents(request: FastifyRequest, n: number): void {
    if (eventBuckets === null || request.principal === null) return;
    const waitMs = eventBuckets.take(request.principal.keyId, n, now());
    if (waitMs > 0) throw rateLimited(`${eventBuckets.ratePerSecond} events per second`, waitMs);
  }

  const idempotency = new IdempotencyStore(deps.pool, {
    ttlMs: options.idempotencyTtlMs ?? 24 * 3_600_000,
    abandonedAfterMs: Math.max(60_000, 3 * publishTimeoutMs),
  });
  const idempotencyWaitMs = options.idempotencyWaitMs ?? publishTimeoutMs + 2000;

  app.decorate('ingestion', {
    log: new EventLog({ publisher: deps.publisher, codec: deps.codec, topic: options.topic, metrics, now, publishTimeoutMs, retryAfterSeconds: options.retryAfterSeconds }),
    takeEvents,
    metrics,
    now,
    maxEventBytes,
    maxBatchEvents: options.maxBatchEvents,
    retryAfterSeconds: options.retryAfterSeconds,
  });

  app.addHook('onError', async (_request, reply, err) => {
    if (err instanceof IngestError && err.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(err.retryAfterSeconds));
    }
  });

  // The routes by concern: OTLP traces, batches of events, and the legacy summary endpoint.
  void app.register(otlpRoutes(new TraceStore(deps.pool)));
  void app.register(eventRoutes({ store: idempotency, waitMs: idempotencyWaitMs }));
  void app.register(legacyRoutes);
  return app;
}
