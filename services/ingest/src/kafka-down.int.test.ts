import { fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { EventCodec } from '@traceledger/contract';
import { createKafka } from '@traceledger/kafka';
import { createTestDatabase, testLogger } from '../../../tests/helpers/world.js';
import { buildIngestApp } from './app.js';

/** A loopback port with nothing listening on it: Kafka there refuses every connection. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

// Only for the ingest app's dependencies: nothing here reaches the database.
const { pool } = await createTestDatabase();

describe('ingest when Kafka cannot take events', () => {
  it('answers 503 with Retry-After and never a 2xx', async () => {
    const logger = testLogger();
    const kafka = createKafka({ brokers: [`127.0.0.1:${await closedPort()}`], clientId: 'tl-test-down', logger });
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
  });
});
