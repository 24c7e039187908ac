import { EventCodec } from '@traceledger/contract';
import { createKafka } from '@traceledger/kafka';
import type { Pool } from '@traceledger/db';
import { buildIngestApp } from '@traceledger/ingest';
import { registerCleanup } from '../cleanup.js';
import { headerTenant, testLogger } from '../world.js';
import type { Poster } from './traffic.js';

/**
 * The ingest app in this process (no socket), publishing to `brokers` — the one place the fault
 * tests wire buildIngestApp. The tenant of a request is its `x-test-tenant` header; the API keys
 * themselves are tested in tests/auth.int.test.ts. Closed after the test (or the file; see ../cleanup.ts).
 */
export async function startIngest(options: { brokers: string[]; topic: string; pool: Pool; publishTimeoutMs?: number; retryAfterSeconds?: number }): Promise<{ post: Poster }> {
  const logger = testLogger();
  const kafka = createKafka({ brokers: options.brokers, clientId: 'tl-fault-ingest', logger });
  const publisher = kafka.publisher();
  registerCleanup(() => publisher.disconnect().catch(() => undefined));
  await publisher.connect();
  const app = buildIngestApp(
    { publisher, codec: EventCodec.fromDirectory(), logger, auth: headerTenant(), pool: options.pool },
    {
      topic: options.topic,
      maxBodyBytes: 1_048_576,
      maxBatchEvents: 10_000,
      retryAfterSeconds: options.retryAfterSeconds ?? 2,
      publishTimeoutMs: options.publishTimeoutMs ?? 3000,
    },
  );
  registerCleanup(() => app.close());
  return {
    post: async (tenant, events) => {
      const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-test-tenant': tenant }, payload: { events } });
      const retryAfter = res.headers['retry-after'];
      return { status: res.statusCode, retryAfter: retryAfter === undefined ? undefined : String(retryAfter), body: res.body };
    },
  };
}
