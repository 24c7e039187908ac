import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EventRejectedError, parseEvent } from '@traceledger/contract';
import type { TraceEvent } from '@traceledger/core';
import { tenantOf } from '@traceledger/http';
import { IngestError, IngestErrorCode } from '../errors.js';
import { IdempotencyStore, type StoredAnswer } from '../idempotency.js';

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

/** How `Idempotency-Key` requests are handled (times in ms). */
export interface IdempotencyOptions {
  store: IdempotencyStore;
  /** How long a request waits for another one holding the same key before it gets 409. */
  waitMs: number;
}

/**
 * `POST /v1/events`: a batch of contract v1 events, each accepted or rejected on its own, published
 * with acks=all before the answer; with an Idempotency-Key, handled once per tenant and key.
 */
export function eventRoutes(idempotency: IdempotencyOptions) {
  return async (app: FastifyInstance): Promise<void> => {
  /** Checks and publishes one batch; the answer, or a throw when Kafka did not take it. */
  async function ingestBatch(request: FastifyRequest, raw: readonly unknown[]): Promise<StoredAnswer> {
    const tenantId = tenantOf(request);
    const nowMs = app.ingestion.now();
    const results: EventResult[] = [];
    const accepted: TraceEvent[] = [];
    const seen = new Set<string>();
    raw.forEach((item, index) => {
      const eventId = typeof (item as { event_id?: unknown })?.event_id === 'string' ? (item as { event_id: string }).event_id : null;
      try {
        const event = parseEvent(item, tenantId, nowMs, app.ingestion.maxEventBytes);
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
    for (const r of results) if (r.code !== undefined) app.ingestion.metrics.eventsRejected.inc({ code: r.code });
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
    await app.ingestion.log.publish(accepted);
    app.ingestion.metrics.eventsAccepted.inc({ route: '/v1/events' }, results.length - rejected);
    request.log.info({ tenantId, accepted: results.length - rejected, rejected }, 'events accepted');
    return { statusCode: rejected === 0 ? 202 : 207, body: JSON.stringify({ accepted: results.length - rejected, rejected, results }) };
  }


  /**
   * Runs `work` at most once per (tenant, Idempotency-Key): a repeat gets the first answer, a
   * repeat with another body 422, and a repeat while the first is running waits for its answer
   * (409 after idempotency.waitMs). An answer that could not be given (a 5xx) is not kept.
   */
  async function once(request: FastifyRequest, reply: FastifyReply, key: string, work: () => Promise<StoredAnswer>): Promise<FastifyReply> {
    const tenantId = tenantOf(request);
    const bodySha256 = request.bodySha256;
    if (bodySha256 === null) throw new Error('Idempotency-Key request without a body hash');
    const deadline = Date.now() + idempotency.waitMs;
    for (let pauseMs = 25; ; pauseMs = Math.min(250, pauseMs * 2)) {
      const claim = await storeCall(() => idempotency.store.claim(tenantId, key, bodySha256));
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
          await idempotency.store.release(tenantId, key, claim.claimId).catch((releaseErr: unknown) => request.log.warn({ err: releaseErr }, 'could not release an idempotency key; it frees itself later'));
          throw err;
        }
        // The events are on the topic: a failure to record the answer must not hide that. A retry
        // then publishes again once the claim is abandoned, which the fold counts once.
        await idempotency.store.complete(tenantId, key, claim.claimId, answer).catch((err: unknown) => request.log.error({ err }, 'could not store the answer of an idempotency key'));
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
      throw new IngestError(IngestErrorCode.DatabaseUnavailable, `idempotency keys cannot be checked right now; nothing from this request was accepted, retry after ${app.ingestion.retryAfterSeconds} s`, 503, {
        cause,
        retriable: true,
        retryAfterSeconds: app.ingestion.retryAfterSeconds,
      });
    }
  }


  app.post<{ Body: { events: unknown[] } }>('/v1/events', { schema: batchSchema }, async (request, reply) => {
    const { events: raw } = request.body;
    if (raw.length > app.ingestion.maxBatchEvents) {
      throw new IngestError(
        IngestErrorCode.TooManyEvents,
        `a batch holds at most ${app.ingestion.maxBatchEvents} events, this one has ${raw.length}; split it`,
        413,
      );
    }
    const key = idempotencyKeyOf(request);
    app.ingestion.takeEvents(request, raw.length);
    if (key === null) return send(reply, await ingestBatch(request, raw));
    return once(request, reply, key, () => ingestBatch(request, raw));
  });

  };
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
