import { fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EventCodec } from '@traceledger/contract';
import { createKafka } from '@traceledger/kafka';
import { createTestDatabase, testLogger } from '../../../tests/helpers/world.js';
import { buildIngestApp } from './app.js';
import { freePort } from '../../../tests/helpers/faults/ports.js';


// The ingest app's database (idempotency keys, OTLP trace shapes).
const { pool } = await createTestDatabase();

describe('ingest when Kafka cannot take events', () => {
  it('answers 503 with Retry-After and never a 2xx, on /v1/events and /v1/traces', async () => {
    const logger = testLogger();
    const kafka = createKafka({ brokers: [`127.0.0.1:${await freePort()}`], clientId: 'tl-test-down', logger });
    const publisher = kafka.publisher();
    const app = buildIngestApp(
      { publisher, codec: EventCodec.fromDirectory(), logger, pool, auth: fixedTenant(DEFAULT_TENANT) },
      { topic: 'unreachable', maxBodyBytes: 1_048_576, maxBatchEvents: 100, retryAfterSeconds: 7, publishTimeoutMs: 3000 },
    );
    afterAll(() => app.close());
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          { event_id: 'down-1', session_id: 's', agent_id: 'a', type: 'session.started', occurred_at: new Date().toISOString() },
        ],
      },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ code: 'TL_INGEST_KAFKA_UNAVAILABLE' });

    // An OTLP export is answered the same way, as a google.rpc.Status UNAVAILABLE (14), so the
    // exporter retries after Retry-After; nothing of it is recorded.
    const nowNs = `${Date.now()}000000`;
    const otlp = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
                    spanId: '00f067aa0ba902b7',
                    startTimeUnixNano: nowNs,
                    endTimeUnixNano: nowNs,
                    attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.usage.input_tokens', value: { intValue: '3' } }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(otlp.statusCode).toBe(503);
    expect(otlp.headers['retry-after']).toBe('7');
    expect(otlp.json()).toEqual({ code: 14, message: expect.stringMatching(/^TL_INGEST_KAFKA_UNAVAILABLE: /) });
    const { rows } = await pool.query<{ n: string }>("SELECT count(*)::text AS n FROM otel_spans WHERE trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'");
    expect(rows[0]?.n).toBe('0');
  });
});
