import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { KeyStore, apiKeyAuthenticator, createApiKey, type CreatedKey } from '@traceledger/auth';
import { TraceLedgerError } from '@traceledger/core';
import type { Publisher } from '@traceledger/kafka';
import { startPipeline } from '../../../tests/helpers/pipeline.js';
import { topicReader } from '../../../tests/helpers/topic.js';
import { testLogger, uid, waitFor } from '../../../tests/helpers/world.js';
import { buildIngestApp } from './app.js';
import { deleteExpiredIdempotencyKeys } from './idempotency.js';

// Idempotency-Key on POST /v1/events with real API keys, the real broker (a reader counts what
// was published) and idempotency_keys in Postgres.
const p = await startPipeline({ auth: (pool) => apiKeyAuthenticator(new KeyStore(pool, 0)) });
const topic = await topicReader(p.kafka, p.topic, p.codec);
const [tenantA, tenantB] = [`ia-${uid()}`, `ib-${uid()}`];
const keyA = await createApiKey(p.pool, { tenantId: tenantA, scopes: ['ingest'] });
const keyA2 = await createApiKey(p.pool, { tenantId: tenantA, scopes: ['ingest'] });
const keyB = await createApiKey(p.pool, { tenantId: tenantB, scopes: ['ingest'] });

/** All events of this file share one session, so they land on one partition in the order published. */
const SESSION = `idem-${uid()}`;
const AT = new Date(Date.now() - 60_000).toISOString();
const started = (id: string) => ({ event_id: id, session_id: SESSION, agent_id: 'agent', type: 'session.started', occurred_at: AT });
const body = (...ids: string[]) => JSON.stringify({ events: ids.map(started) });
const post = (app: typeof p.ingest, key: CreatedKey, payload: string | Buffer, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json', ...headers }, payload });
const published = async (eventId: string) => {
  await topic.caughtUp();
  return topic.eventIds().filter((e) => e === eventId).length;
};

/** A publisher that holds, or fails, the publish calls the test chooses; the rest go to Kafka. */
function faultyPublisher(real: Publisher) {
  let hold: Promise<void> | null = null;
  let failNext = false;
  let open = (): void => undefined;
  const publisher: Publisher = {
    connect: () => real.connect(),
    disconnect: () => real.disconnect(),
    async publish(t, messages, timeoutMs) {
      if (failNext) {
        failNext = false;
        throw new TraceLedgerError('TL_KAFKA_UNAVAILABLE', 'injected: broker unavailable', { retriable: true, statusCode: 503 });
      }
      if (hold) await hold;
      await real.publish(t, messages, timeoutMs);
    },
  };
  return {
    publisher,
    holdNext() {
      hold = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
    release() {
      hold = null;
      open();
    },
    failNext() {
      failNext = true;
    },
  };
}

describe('Idempotency-Key on POST /v1/events', () => {
  it('answers a repeat with the first answer, byte for byte, and publishes once', async () => {
    const id = `once-${uid()}`;
    const key = `k-${uid()}`;
    const first = await post(p.ingest, keyA, body(id), { 'idempotency-key': key });
    expect(first.statusCode).toBe(202);
    const again = await post(p.ingest, keyA, body(id), { 'idempotency-key': key });
    expect(again.statusCode).toBe(202);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The key belongs to the tenant, not to the API key: another key of A gets the same answer.
    const otherKey = await post(p.ingest, keyA2, body(id), { 'idempotency-key': key });
    expect(otherKey.headers['idempotent-replayed']).toBe('true');
    // The body is compared after decoding: the same bytes gzipped are the same request.
    const zipped = await post(p.ingest, keyA, gzipSync(body(id)), { 'idempotency-key': key, 'content-encoding': 'gzip' });
    expect(zipped.headers['idempotent-replayed']).toBe('true');
    expect(await published(id)).toBe(1);
  });

  it('answers 422 when the key comes back with another body, and publishes nothing for it', async () => {
    const key = `k-${uid()}`;
    const id = `mm-${uid()}`;
    expect((await post(p.ingest, keyA, body(id), { 'idempotency-key': key })).statusCode).toBe(202);
    const other = await post(p.ingest, keyA, body(`${id}-other`), { 'idempotency-key': key });
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'TL_INGEST_IDEMPOTENCY_MISMATCH' });
    // Another tenant using the same key string is a different key.
    const tenantB = await post(p.ingest, keyB, body(`${id}-b`), { 'idempotency-key': key });
    expect(tenantB.statusCode).toBe(202);
    expect(await published(`${id}-other`)).toBe(0);
    expect(await published(`${id}-b`)).toBe(1);
  });

  it('replays 207 and 400 answers as well', async () => {
    const id = `partial-${uid()}`;
    const partial = JSON.stringify({ events: [started(id), { ...started(`${id}-bad`), type: 'nope' }] });
    const key = `k-${uid()}`;
    const first = await post(p.ingest, keyA, partial, { 'idempotency-key': key });
    expect(first.statusCode).toBe(207);
    const again = await post(p.ingest, keyA, partial, { 'idempotency-key': key });
    expect([again.statusCode, again.body]).toEqual([207, first.body]);
    const allBad = JSON.stringify({ events: [{ event_id: 'x', type: 'nope' }] });
    const badKey = `k-${uid()}`;
    const bad1 = await post(p.ingest, keyA, allBad, { 'idempotency-key': badKey });
    const bad2 = await post(p.ingest, keyA, allBad, { 'idempotency-key': badKey });
    expect([bad1.statusCode, bad2.statusCode]).toEqual([400, 400]);
    expect(bad2.body).toBe(bad1.body);
    expect(await published(id)).toBe(1);
  });

  it('publishes once when many requests with the same key arrive together', async () => {
    const id = `race-${uid()}`;
    const key = `k-${uid()}`;
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(p.ingest, keyA, body(id), { 'idempotency-key': key })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(12).fill(202));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(await published(id)).toBe(1);
  });

  it('answers 409 with Retry-After while the first request is still publishing, then the first answer', async () => {
    const faulty = faultyPublisher(p.kafka.publisher());
    await faulty.publisher.connect();
    const app = buildIngestApp(
      { publisher: faulty.publisher, codec: p.codec, logger: testLogger(), pool: p.pool, auth: apiKeyAuthenticator(new KeyStore(p.pool, 0)) },
      { topic: p.topic, maxBodyBytes: 1_048_576, maxBatchEvents: 100, retryAfterSeconds: 5, idempotencyWaitMs: 300 },
    );
    try {
      const id = `slow-${uid()}`;
      const key = `k-${uid()}`;
      faulty.holdNext();
      const firstP = post(app, keyA, body(id), { 'idempotency-key': key });
      // Wait until the first request holds the key.
      const status = await waitFor(async () => (await p.pool.query<{ status: string }>('SELECT status FROM idempotency_keys WHERE key = $1', [key])).rows[0]?.status, {
        what: 'the first request to claim the key',
      });
      expect(status).toBe('in_progress');
      const second = await post(app, keyA, body(id), { 'idempotency-key': key });
      expect(second.statusCode).toBe(409);
      expect(second.headers['retry-after']).toBe('1');
      expect(second.json().code).toBe('TL_INGEST_IDEMPOTENCY_IN_PROGRESS');
      // A different body is a mismatch even while the first is running.
      expect((await post(app, keyA, body(`${id}-x`), { 'idempotency-key': key })).statusCode).toBe(422);
      faulty.release();
      const first = await firstP;
      expect(first.statusCode).toBe(202);
      const third = await post(app, keyA, body(id), { 'idempotency-key': key });
      expect([third.statusCode, third.body]).toEqual([202, first.body]);
      expect(await published(id)).toBe(1);
    } finally {
      await app.close();
      await faulty.publisher.disconnect();
    }
  });

  it('keeps no answer when Kafka did not take the batch: the retry with the same key publishes', async () => {
    const faulty = faultyPublisher(p.kafka.publisher());
    await faulty.publisher.connect();
    const app = buildIngestApp(
      { publisher: faulty.publisher, codec: p.codec, logger: testLogger(), pool: p.pool, auth: apiKeyAuthenticator(new KeyStore(p.pool, 0)) },
      { topic: p.topic, maxBodyBytes: 1_048_576, maxBatchEvents: 100, retryAfterSeconds: 5 },
    );
    try {
      const id = `retry-${uid()}`;
      const key = `k-${uid()}`;
      faulty.failNext();
      const failed = await post(app, keyA, body(id), { 'idempotency-key': key });
      expect(failed.statusCode).toBe(503);
      const retry = await post(app, keyA, body(id), { 'idempotency-key': key });
      expect(retry.statusCode).toBe(202);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(await published(id)).toBe(1);
    } finally {
      await app.close();
      await faulty.publisher.disconnect();
    }
  });

  it('forgets a key after its time to live, and lets a claim left by a dead process be taken over', async () => {
    const key = `k-${uid()}`;
    const id = `ttl-${uid()}`;
    expect((await post(p.ingest, keyA, body(id), { 'idempotency-key': key })).statusCode).toBe(202);
    await p.pool.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE tenant_id = $1 AND key = $2", [tenantA, key]);
    // Expired: the key is new again, even with another body.
    const reused = await post(p.ingest, keyA, body(`${id}-new`), { 'idempotency-key': key });
    expect(reused.statusCode).toBe(202);
    expect(reused.headers['idempotent-replayed']).toBeUndefined();
    expect(await published(`${id}-new`)).toBe(1);
    await p.pool.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE tenant_id = $1 AND key = $2", [tenantA, key]);
    expect(await deleteExpiredIdempotencyKeys(p.pool, 24 * 3_600_000)).toBeGreaterThanOrEqual(1);
    expect((await p.pool.query('SELECT 1 FROM idempotency_keys WHERE tenant_id = $1 AND key = $2', [tenantA, key])).rowCount).toBe(0);

    // A process died holding a claim two minutes ago: the same body takes it over, another body is refused.
    const orphan = `k-${uid()}`;
    const orphanBody = body(`${id}-orphan`);
    await p.pool.query(
      `INSERT INTO idempotency_keys (tenant_id, key, body_sha256, status, claim_id, created_at, updated_at)
       VALUES ($1, $2, $3, 'in_progress', gen_random_uuid(), now() - interval '2 minutes', now() - interval '2 minutes')`,
      [tenantA, orphan, createHash('sha256').update(orphanBody).digest()],
    );
    expect((await post(p.ingest, keyA, body('something-else'), { 'idempotency-key': orphan })).statusCode).toBe(422);
    expect((await post(p.ingest, keyA, orphanBody, { 'idempotency-key': orphan })).statusCode).toBe(202);
    expect(await published(`${id}-orphan`)).toBe(1);
  });

  it('answers 400 for an Idempotency-Key that is empty, too long or not printable ASCII', async () => {
    for (const bad of ['x'.repeat(256), 'clé', 'tab\there']) {
      const res = await post(p.ingest, keyA, body(`bad-${uid()}`), { 'idempotency-key': bad });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().code).toBe('TL_INGEST_BAD_IDEMPOTENCY_KEY');
    }
  });
});
