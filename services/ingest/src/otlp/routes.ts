import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { EventRejectedError, parseEvent, planSpans, type OtlpSpan, type SpanPlan } from '@traceledger/contract';
import type { TraceEvent } from '@traceledger/core';
// The `ingestion` decoration's type (a module augmentation only).
import type {} from '../ingestion.js';
import { isTransientDbError } from '@traceledger/db';
import { describeError, tenantOf } from '@traceledger/http';
import { IngestError, IngestErrorCode } from '../errors.js';
import { OtlpDecodeError, decodeJson, decodeProtobuf, encodeProtobufResponse, encodeProtobufStatus, grpcCodeOf } from './decode.js';
import type { TraceStore } from './trace-store.js';

const PROTOBUF = 'application/x-protobuf';

/** Most reasons quoted in a partial-success message; the count says how many there were. */
const MAX_REASONS = 5;

/**
 * `POST /v1/traces`: OTLP/HTTP trace export (protobuf or JSON, gzip too), authenticated with an
 * ingest key. GenAI spans become contract v1 events (docs/otel.md) that pass the same checks,
 * limits and rate limits as /v1/events; the answer (200, with `partialSuccess` when spans were
 * refused or ignored) comes only after Kafka acknowledged them.
 */
export function otlpRoutes(store: TraceStore) {
  return async (app: FastifyInstance): Promise<void> => {
    const deps = app.ingestion;
    app.addContentTypeParser(PROTOBUF, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    // Errors as OTLP/HTTP asks: a google.rpc.Status in the request's encoding, traceledger's code
    // leading its message (Retry-After is set by the app's onError hook, as for /v1/events).
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const e = describeError(err, request, 'TL_INGEST');
      const code = grpcCodeOf(e.statusCode);
      const message = `${e.code}: ${e.message}`;
      void reply.status(e.statusCode);
      if ((request.headers['content-type'] ?? '').toLowerCase().startsWith(PROTOBUF)) {
        void reply.header('content-type', PROTOBUF).send(encodeProtobufStatus(code, message));
      } else {
        void reply.header('content-type', 'application/json').send(JSON.stringify({ code, message }));
      }
    });

    app.post(
      '/v1/traces',
      {
        schema: {
          summary: 'OTLP/HTTP trace export (OpenTelemetry GenAI spans)',
          description:
            'An ExportTraceServiceRequest as application/x-protobuf or application/json (Content-Encoding gzip allowed). GenAI spans are mapped to contract v1 events (docs/otel.md); spans without gen_ai.* attributes are ignored. 200 with partialSuccess when spans were rejected or ignored; 400 for a body that is not OTLP; 413, 429 and 503 with Retry-After as for /v1/events.',
          consumes: [PROTOBUF, 'application/json'],
        },
      },
      async (request, reply) => {
        const isProtobuf = (request.headers['content-type'] ?? '').toLowerCase().startsWith(PROTOBUF);
        let spans: OtlpSpan[];
        try {
          spans = isProtobuf ? decodeProtobuf(request.body as Buffer) : decodeJson(request.body);
        } catch (err) {
          if (err instanceof OtlpDecodeError) throw new IngestError(IngestErrorCode.BadOtlp, err.message, 400);
          throw err;
        }
        if (spans.length > deps.maxBatchEvents) {
          throw new IngestError(IngestErrorCode.TooManyEvents, `an export holds at most ${deps.maxBatchEvents} spans, this one has ${spans.length}; lower the exporter's batch size`, 413);
        }
        const tenantId = tenantOf(request);
        const nowMs = deps.now();
        const plans = planSpans(spans);
        const accepted: TraceEvent[] = [];
        /** The trace's tree as recorded: every span, a refused one without usage (its events were not published). */
        const tree: SpanPlan[] = [];
        const reasons: string[] = [];
        let rejected = 0;
        let ignored = 0;
        for (const plan of plans) {
          if (!plan.genAi) {
            ignored += 1;
            tree.push(plan);
            continue;
          }
          // A span's events stand or fall together: a span is accepted or rejected as a whole.
          try {
            accepted.push(...plan.events.map((e) => parseEvent(e, tenantId, nowMs, deps.maxEventBytes)));
            tree.push(plan);
          } catch (err) {
            if (!(err instanceof EventRejectedError)) throw err;
            rejected += 1;
            deps.metrics.eventsRejected.inc({ code: err.code });
            tree.push({ ...plan, usage: null, events: [] });
            if (reasons.length < MAX_REASONS) reasons.push(`span ${plan.span.spanId} of trace ${plan.span.traceId}: ${err.code}${err.field ? ` (${err.field})` : ''}: ${err.message}`);
          }
        }
        deps.takeEvents(request, accepted.length);
        await store.record(tenantId, tree, async (voids) => {
          const events = [...accepted, ...voids.map((v) => parseEvent(v, tenantId, nowMs, deps.maxEventBytes))];
          if (events.length > 0) await deps.log.publish(events);
        }).catch((err: unknown) => {
          // Kafka's 503 as it is; the database away: 503 too (retrying is safe); anything else is a
          // bug, answered 500 and logged rather than retried forever by the exporter.
          if (err instanceof IngestError || !isTransientDbError(err)) throw err;
          throw new IngestError(IngestErrorCode.DatabaseUnavailable, `traces cannot be recorded right now; nothing from this request was accepted, retry after ${deps.retryAfterSeconds} s`, 503, {
            cause: err,
            retriable: true,
            retryAfterSeconds: deps.retryAfterSeconds,
          });
        });
        deps.metrics.eventsAccepted.inc({ route: '/v1/traces' }, accepted.length);
        deps.metrics.otlpSpans.inc({ outcome: 'accepted' }, plans.length - rejected - ignored);
        deps.metrics.otlpSpans.inc({ outcome: 'rejected' }, rejected);
        deps.metrics.otlpSpans.inc({ outcome: 'ignored' }, ignored);
        request.log.info({ tenantId, spans: plans.length, rejected, ignored, events: accepted.length }, 'otlp spans accepted');

        const messages: string[] = [];
        if (rejected > 0) messages.push(`${rejected} span(s) rejected by contract v1: ${reasons.join('; ')}${rejected > reasons.length ? '; …' : ''}`);
        if (ignored > 0) messages.push(`${ignored} span(s) without gen_ai.* attributes ignored`);
        const partial = messages.length === 0 ? null : { rejectedSpans: rejected, errorMessage: messages.join('. ') };
        return answer(reply, isProtobuf, partial);
      },
    );
  };
}

function answer(reply: FastifyReply, protobuf: boolean, partial: { rejectedSpans: number; errorMessage: string } | null): FastifyReply {
  if (protobuf) return reply.status(200).header('content-type', PROTOBUF).send(encodeProtobufResponse(partial));
  // OTLP/JSON writes int64 as a string.
  const body = partial === null ? {} : { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } };
  return reply.status(200).header('content-type', 'application/json').send(JSON.stringify(body));
}
