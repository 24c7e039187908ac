import { describe, expect, it } from 'vitest';
import { KeyStore, apiKeyAuthenticator, createApiKey } from '@traceledger/auth';
import { startPipeline } from '../../../tests/helpers/pipeline.js';
import { topicReader } from '../../../tests/helpers/topic.js';
import { uid } from '../../../tests/helpers/world.js';

// Per-key rate limits with real API keys, on a clock the test moves: 2 requests/s and 20 events/s
// per key, 2 s of burst (4 requests; the event bucket holds one full batch of 50).
let clock = Date.now();
const p = await startPipeline({
  auth: (pool) => apiKeyAuthenticator(new KeyStore(pool, 0)),
  now: () => clock,
  ingestOptions: { maxBatchEvents: 50, rateLimit: { requestsPerSecond: 2, eventsPerSecond: 20, burstSeconds: 2 } },
});
const topic = await topicReader(p.kafka, p.topic, p.codec);
const tenant = `rl-${uid()}`;
const [k1, k2, k3] = await Promise.all([1, 2, 3].map(() => createApiKey(p.pool, { tenantId: tenant, scopes: ['ingest'] })));
if (!k1 || !k2 || !k3) throw new Error('keys not created');

const started = (id: string) => ({ event_id: id, session_id: `s-${id}`, agent_id: 'agent', type: 'session.started', occurred_at: new Date(clock).toISOString() });
const post = (key: { key: string }, events: unknown[]) =>
  p.ingest.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${key.key}` }, payload: { events } });

describe('per-key rate limits', () => {
  it('gives a key its burst of requests, then 429 with Retry-After and nothing published, and refills with time', async () => {
    const id = uid();
    const first = await Promise.all([0, 1, 2, 3].map((i) => post(k1, [started(`${id}-${i}`)])));
    expect(first.map((r) => r.statusCode)).toEqual([202, 202, 202, 202]);
    const over = await post(k1, [started(`${id}-over`)]);
    expect(over.statusCode).toBe(429);
    expect(over.headers['retry-after']).toBe('1');
    expect(over.json()).toMatchObject({ code: 'TL_INGEST_RATE_LIMITED', message: expect.stringContaining('2 requests per second') });
    // Counted on arrival, before the body is read: even a malformed body gets the 429.
    const malformed = await p.ingest.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${k1.key}`, 'content-type': 'application/json' }, payload: '{"events": [' });
    expect(malformed.statusCode).toBe(429);
    // Another key of the same tenant has its own bucket.
    expect((await post(k2, [started(`${id}-k2`)])).statusCode).toBe(202);
    clock += 500;
    expect((await post(k1, [started(`${id}-later`)])).statusCode).toBe(202);
    expect((await post(k1, [started(`${id}-again`)])).statusCode).toBe(429);
    await topic.caughtUp();
    const mine = topic.eventIds().filter((e) => e.startsWith(id));
    expect(mine.sort()).toEqual([`${id}-0`, `${id}-1`, `${id}-2`, `${id}-3`, `${id}-k2`, `${id}-later`].sort());
    // Health checks carry no key and are never limited.
    expect((await p.ingest.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('limits events per second: a full batch drains the bucket, the next event waits', async () => {
    clock += 10_000;
    const id = uid();
    const full = await post(k3, Array.from({ length: 50 }, (_, i) => started(`${id}-${i}`)));
    expect(full.statusCode).toBe(202);
    const one = await post(k3, [started(`${id}-one`)]);
    expect(one.statusCode).toBe(429);
    expect(one.headers['retry-after']).toBe('1');
    expect(one.json().message).toContain('20 events per second');
    // The legacy endpoint spends one token per event it makes (three for an ended session).
    clock += 100;
    const legacy = await p.ingest.inject({
      method: 'POST',
      url: '/api/billing/ingest',
      headers: { authorization: `Bearer ${k3.key}` },
      payload: { sessionId: `legacy-${id}`, agentId: 'a', startedAt: new Date(clock - 60_000).toISOString(), status: 'success', inputTokens: 1, outputTokens: 1 },
    });
    expect(legacy.statusCode).toBe(429);
    clock += 2600;
    expect((await post(k3, Array.from({ length: 50 }, (_, i) => started(`${id}-b${i}`)))).statusCode).toBe(202);
    await topic.caughtUp();
    expect(topic.eventIds().filter((e) => e.startsWith(id))).toHaveLength(100);
  });
});
