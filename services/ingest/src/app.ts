import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { TraceLedgerError, type TraceEvent } from '@traceledger/core';
import type { Authenticator } from '@traceledger/auth';
import { EventRejectedError, legacySummaryToEvents, parseEvent, type EventCodec, type LegacySummary } from '@traceledger/contract';
import type { OutMessage, Publisher } from '@traceledger/kafka';
import { errorHandler, notFoundHandler, requireScope, tenantOf } from '@traceledger/http';
import { IngestError, IngestErrorCode } from './errors.js';

/** What the ingest app needs from the outside world. */
export interface IngestDeps {
  publisher: Publisher;
  codec: EventCodec;
  logger: Logger;
  /** Clock in epoch milliseconds (tests pin it). */
  now?: () => number;
  /** Who a request acts for: API keys with the ingest scope (the tenant comes from the key). */
  auth: Authenticator;
}

export interface IngestOptions {
  topic: string;
  maxBodyBytes: number;
  maxBatchEvents: number;
  retryAfterSeconds: number;
  /** How long to wait for Kafka's acknowledgement before answering 503, in ms. */
  publishTimeoutMs?: number;
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
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: options.maxBodyBytes,
    // Type coercion would turn "12" into 12 and hide producer bugs; the contract checks types.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
  });
  app.setErrorHandler(errorHandler('TL_INGEST'));
  app.setNotFoundHandler(notFoundHandler('TL_INGEST'));
  requireScope(app, deps.auth, 'ingest');

  async function publish(events: readonly TraceEvent[]): Promise<void> {
    const ingestedAt = now();
    const messages: OutMessage[] = events.map((e) => ({
      key: e.sessionId,
      value: deps.codec.encode(e, ingestedAt),
      headers: { 'tl-tenant': e.tenantId, 'tl-event-id': e.eventId },
    }));
    try {
      await deps.publisher.publish(options.topic, messages, options.publishTimeoutMs ?? 10_000);
    } catch (cause) {
      throw new IngestError(
        IngestErrorCode.KafkaUnavailable,
        `the event log is not accepting writes right now; nothing from this request is counted as accepted, retry after ${options.retryAfterSeconds} s`,
        503,
        { cause, retriable: true },
      );
    }
  }

  app.addHook('onError', async (_request, reply, err) => {
    if (err instanceof TraceLedgerError && err.code === IngestErrorCode.KafkaUnavailable) {
      void reply.header('retry-after', String(options.retryAfterSeconds));
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post<{ Body: { events: unknown[] } }>('/v1/events', { schema: batchSchema }, async (request, reply) => {
    const { events: raw } = request.body;
    if (raw.length > options.maxBatchEvents) {
      throw new IngestError(
        IngestErrorCode.TooManyEvents,
        `a batch holds at most ${options.maxBatchEvents} events, this one has ${raw.length}; split it`,
        413,
      );
    }
    const tenantId = tenantOf(request);
    const nowMs = now();
    const results: EventResult[] = [];
    const accepted: TraceEvent[] = [];
    const seen = new Set<string>();
    raw.forEach((item, index) => {
      const eventId = typeof (item as { event_id?: unknown })?.event_id === 'string' ? (item as { event_id: string }).event_id : null;
      try {
        const event = parseEvent(item, tenantId, nowMs);
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
    if (accepted.length === 0) {
      return reply.status(400).send({
        statusCode: 400,
        code: IngestErrorCode.AllRejected,
        error: 'Bad Request',
        message: `all ${raw.length} events were rejected; see results`,
        accepted: 0,
        rejected,
        results,
      });
    }
    await publish(accepted);
    request.log.info({ tenantId, accepted: results.length - rejected, rejected }, 'events accepted');
    return reply.status(rejected === 0 ? 202 : 207).send({ accepted: results.length - rejected, rejected, results });
  });

  app.post<{ Body: LegacySummary }>('/api/billing/ingest', { schema: legacySchema }, async (request, reply) => {
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
    await publish(events);
    request.log.info({ tenantId, sessionId: summary.sessionId }, 'legacy summary accepted');
    return reply.status(202).send({ accepted: true, sessionId: summary.sessionId, eventIds: events.map((e) => e.eventId) });
  });

  return app;
}
