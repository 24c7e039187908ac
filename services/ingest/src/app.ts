import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { TraceEvent } from '@traceledger/core';
import type { Authenticator } from '@traceledger/auth';
import { EventRejectedError, LIMITS, eventRecord, legacySummaryToEvents, parseEvent, type EventCodec, type LegacySummary } from '@traceledger/contract';
import type { Pool } from '@traceledger/db';
import type { OutMessage, Publisher } from '@traceledger/kafka';
import { clientErrorHandler, createMetricsRegistry, errorHandler, notFoundHandler, registerOperatorRoutes, requireScope, tenantOf, type ReadinessCheck } from '@traceledger/http';
import type { Registry } from 'prom-client';
import { registerBodyReading } from './body.js';
import { IngestError, IngestErrorCode } from './errors.js';
import { IdempotencyStore, type StoredAnswer } from './idempotency.js';
import { ingestMetrics } from './metrics.js';
import { otlpRoutes } from './otlp/routes.js';
import { TraceStore } from './otlp/trace-store.js';
import { KeyedTokenBuckets } from './rate-limit.js';

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

/** One line of a batch answer. */
export interface EventResult {
  index: number;
  eventId: string | null;
  status: 'accepted' | 'rejected';
  code?: string;
  field?: string;
  message?: string;
}

const batchSchema = {
  body: {
    type: 'object',
    required: ['events'],
    additionalProperties: false,
    properties: { events: { type: 'array', minItems: 1, items: {} } },
  },
} as const;

const legacySchema = {
  body: {
    type: 'object',
    required: ['sessionId', 'agentId', 'startedAt', 'status', 'inputTokens', 'outputTokens'],
    additionalProperties: false,
    properties: {
      sessionId: { type: 'string', minLength: 1, maxLength: 128 },
      agentId: { type: 'string', minLength: 1, maxLength: 128 },
      teamId: { type: ['string', 'null'], maxLength: 128 },
      startedAt: { type: 'string' },
      endedAt: { type: ['string', 'null'] },
      durationMs: { type: ['integer', 'null'], minimum: 0 },
      status: { type: 'string' },
      inputTokens: { type: 'integer', minimum: 0 },
      outputTokens: { type: 'integer', minimum: 0 },
      cost: { type: ['number', 'string', 'null'] },
      model: { type: ['string', 'null'], maxLength: 128 },
    },
  },
} as const;

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
  registerOperatorRoutes(app, { registry, readiness: deps.readiness ?? [] });
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

  async function publish(events: readonly TraceEvent[]): Promise<void> {
    const ingestedAt = now();
    const messages: OutMessage[] = events.map((e) => eventRecord(deps.codec, e, ingestedAt));
    const deadline = Date.now() + publishTimeoutMs;
    const endTimer = metrics.produceDuration.startTimer();
    try {
      // In sends of at most PUBLISH_CHUNK_BYTES, in order: one send puts all of a partition's
      // records in one record batch, and a batch over the broker's message.max.bytes (1 MB by
      // default) is refused every time. A 1 MiB body of one session encodes to more than that.
      for (const chunk of chunksOfBytes(messages, PUBLISH_CHUNK_BYTES)) {
        await deps.publisher.publish(options.topic, chunk, Math.max(1, deadline - Date.now()));
      }
      endTimer({ outcome: 'ok' });
    } catch (cause) {
      endTimer({ outcome: 'error' });
      metrics.eventsRejected.inc({ code: IngestErrorCode.KafkaUnavailable }, events.length);
      throw new IngestError(
        IngestErrorCode.KafkaUnavailable,
        `the event log is not accepting writes right now; nothing from this request is counted as accepted, retry after ${options.retryAfterSeconds} s`,
        503,
        { cause, retriable: true, retryAfterSeconds: options.retryAfterSeconds },
      );
    }
  }

  app.addHook('onError', async (_request, reply, err) => {
    if (err instanceof IngestError && err.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(err.retryAfterSeconds));
    }
  });

  /** Checks and publishes one batch; the answer, or a throw when Kafka did not take it. */
  async function ingestBatch(request: FastifyRequest, raw: readonly unknown[]): Promise<StoredAnswer> {
    const tenantId = tenantOf(request);
    const nowMs = now();
    const results: EventResult[] = [];
    const accepted: TraceEvent[] = [];
    const seen = new Set<string>();
    raw.forEach((item, index) => {
      const eventId = typeof (item as { event_id?: unknown })?.event_id === 'string' ? (item as { event_id: string }).event_id : null;
      try {
        const event = parseEvent(item, tenantId, nowMs, maxEventBytes);
        // A repeat inside one batch is the same event: publish it once, report it accepted.
        if (!seen.has(event.eventId)) accepted.push(event);
        seen.add(event.eventId);
        results.push({ index, eventId: event.eventId, status: 'accepted' });
      } catch (err) {
        if (!(err instanceof EventRejectedError)) throw err;
        results.push({ index, eventId, status: 'rejected', code: err.code, ...(err.field ? { field: err.field } : {}), message: err.message });
      }
    });
    const rejected = results.filter((r) => r.status === 'rejected').length;
    for (const r of results) if (r.code !== undefined) metrics.eventsRejected.inc({ code: r.code });
    if (accepted.length === 0) {
      request.log.info({ tenantId, rejected }, 'batch rejected');
      return {
        statusCode: 400,
        body: JSON.stringify({
          statusCode: 400,
          code: IngestErrorCode.AllRejected,
          error: 'Bad Request',
          message: `all ${raw.length} events were rejected; see results`,
          accepted: 0,
          rejected,
          results,
        }),
      };
    }
    await publish(accepted);
    metrics.eventsAccepted.inc({ route: '/v1/events' }, results.length - rejected);
    request.log.info({ tenantId, accepted: results.length - rejected, rejected }, 'events accepted');
    return { statusCode: rejected === 0 ? 202 : 207, body: JSON.stringify({ accepted: results.length - rejected, rejected, results }) };
  }

  /**
   * Runs `work` at most once per (tenant, Idempotency-Key): a repeat gets the first answer, a
   * repeat with another body 422, and a repeat while the first is running waits for its answer
   * (409 after idempotencyWaitMs). An answer that could not be given (a 5xx) is not kept.
   */
  async function once(request: FastifyRequest, reply: FastifyReply, key: string, work: () => Promise<StoredAnswer>): Promise<FastifyReply> {
    const tenantId = tenantOf(request);
    const bodySha256 = request.bodySha256;
    if (bodySha256 === null) throw new Error('Idempotency-Key request without a body hash');
    const deadline = Date.now() + idempotencyWaitMs;
    for (let pauseMs = 25; ; pauseMs = Math.min(250, pauseMs * 2)) {
      const claim = await storeCall(() => idempotency.claim(tenantId, key, bodySha256));
      if (claim.kind === 'answered') {
        request.log.info({ tenantId, statusCode: claim.answer.statusCode }, 'idempotent replay');
        return send(reply.header('idempotent-replayed', 'true'), claim.answer);
      }
      if (claim.kind === 'mismatch') {
        throw new IngestError(IngestErrorCode.IdempotencyMismatch, 'this Idempotency-Key was already used with a different body; use a new key for a new batch', 422);
      }
      if (claim.kind === 'claimed') {
        let answer: StoredAnswer;
        try {
          answer = await work();
        } catch (err) {
          await idempotency.release(tenantId, key, claim.claimId).catch((releaseErr: unknown) => request.log.warn({ err: releaseErr }, 'could not release an idempotency key; it frees itself later'));
          throw err;
        }
        // The events are on the topic: a failure to record the answer must not hide that. A retry
        // then publishes again once the claim is abandoned, which the fold counts once.
        await idempotency.complete(tenantId, key, claim.claimId, answer).catch((err: unknown) => request.log.error({ err }, 'could not store the answer of an idempotency key'));
        return send(reply, answer);
      }
      if (Date.now() + pauseMs > deadline) {
        throw new IngestError(
          IngestErrorCode.IdempotencyInProgress,
          'a request with this Idempotency-Key is still being handled; retry to get its answer',
          409,
          { retriable: true, retryAfterSeconds: 1 },
        );
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      throw new IngestError(IngestErrorCode.DatabaseUnavailable, `idempotency keys cannot be checked right now; nothing from this request was accepted, retry after ${options.retryAfterSeconds} s`, 503, {
        cause,
        retriable: true,
        retryAfterSeconds: options.retryAfterSeconds,
      });
    }
  }

  // The routes by concern: OTLP traces, batches of events, and the legacy summary endpoint.
  void app.register(
    otlpRoutes({
      store: new TraceStore(deps.pool),
      metrics,
      now,
      maxEventBytes,
      maxSpans: options.maxBatchEvents,
      retryAfterSeconds: options.retryAfterSeconds,
      takeEvents,
      publish,
    }),
  );
  void app.register(async (routes) => {
    routes.post<{ Body: { events: unknown[] } }>('/v1/events', { schema: batchSchema }, async (request, reply) => {
      const { events: raw } = request.body;
      if (raw.length > options.maxBatchEvents) {
        throw new IngestError(
          IngestErrorCode.TooManyEvents,
          `a batch holds at most ${options.maxBatchEvents} events, this one has ${raw.length}; split it`,
          413,
        );
      }
      const key = idempotencyKeyOf(request);
      takeEvents(request, raw.length);
      if (key === null) return send(reply, await ingestBatch(request, raw));
      return once(request, reply, key, () => ingestBatch(request, raw));
    });

    routes.post<{ Body: LegacySummary }>('/api/billing/ingest', { schema: legacySchema }, async (request, reply) => {
      const summary = request.body;
      const tenantId = tenantOf(request);
      let events: TraceEvent[];
      try {
        events = legacySummaryToEvents(summary, tenantId, now());
      } catch (err) {
        if (err instanceof EventRejectedError) {
          return reply.status(400).send({ statusCode: 400, code: err.code, error: 'Bad Request', message: err.message, field: err.field });
        }
        throw err;
      }
      takeEvents(request, events.length);
      await publish(events);
      metrics.eventsAccepted.inc({ route: '/api/billing/ingest' }, events.length);
      request.log.info({ tenantId, sessionId: summary.sessionId }, 'legacy summary accepted');
      return reply.status(202).send({ accepted: true, sessionId: summary.sessionId, eventIds: events.map((e) => e.eventId) });
    });
  });

  return app;
}

/** Bytes of messages per send to Kafka: well under the broker's default message.max.bytes (1048588). */
const PUBLISH_CHUNK_BYTES = 512 * 1024;
/** Kafka's own bytes around each record (lengths, offsets, timestamps, header names), generously. */
const RECORD_OVERHEAD_BYTES = 64;

/** `messages` cut into runs of at most `maxBytes` (a single larger message is a run of its own), in order. */
function chunksOfBytes(messages: readonly OutMessage[], maxBytes: number): OutMessage[][] {
  const chunks: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = RECORD_OVERHEAD_BYTES + m.value.length + (m.key === null ? 0 : Buffer.byteLength(m.key));
    for (const [k, v] of Object.entries(m.headers ?? {})) size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function send(reply: FastifyReply, answer: StoredAnswer): FastifyReply {
  return reply.status(answer.statusCode).header('content-type', 'application/json; charset=utf-8').send(answer.body);
}

/** The request's Idempotency-Key, or null without one; 1 to 255 printable ASCII characters. */
function idempotencyKeyOf(request: FastifyRequest): string | null {
  const v = request.headers['idempotency-key'];
  if (v === undefined) return null;
  if (typeof v !== 'string' || !/^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/.test(v)) {
    throw new IngestError(IngestErrorCode.BadIdempotencyKey, 'Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is a good choice), sent once', 400);
  }
  return v;
}
