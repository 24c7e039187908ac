import type { FastifyInstance } from 'fastify';
import { EventRejectedError, legacySummaryToEvents, type LegacySummary } from '@traceledger/contract';
import type { TraceEvent } from '@traceledger/core';
import { tenantOf } from '@traceledger/http';

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

/** `POST /api/billing/ingest`: the old platform's session summary, turned into events with stable ids. */
export async function legacyRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: LegacySummary }>('/api/billing/ingest', { schema: legacySchema }, async (request, reply) => {
    const summary = request.body;
    const tenantId = tenantOf(request);
    let events: TraceEvent[];
    try {
      events = legacySummaryToEvents(summary, tenantId, app.ingestion.now());
    } catch (err) {
      if (err instanceof EventRejectedError) {
        return reply.status(400).send({ statusCode: 400, code: err.code, error: 'Bad Request', message: err.message, field: err.field });
      }
      throw err;
    }
    app.ingestion.takeEvents(request, events.length);
    await app.ingestion.log.publish(events);
    app.ingestion.metrics.eventsAccepted.inc({ route: '/api/billing/ingest' }, events.length);
    request.log.info({ tenantId, sessionId: summary.sessionId }, 'legacy summary accepted');
    return reply.status(202).send({ accepted: true, sessionId: summary.sessionId, eventIds: events.map((e) => e.eventId) });
  });
}
