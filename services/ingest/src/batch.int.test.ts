import { fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EventCodec } from '@traceledger/contract';
import type { InRecord } from '@traceledger/kafka';
import { createTestDatabase, createTestTopics, testLogger, uid, waitFor } from '../../../tests/helpers/world.js';
import { buildIngestApp } from './app.js';

// Ingest on the real broker, with a topic of this file's own; a reader group sees what landed.
const logger = testLogger();
const { kafka, topic } = await createTestTopics(logger);
const codec = EventCodec.fromDirectory();
const publisher = kafka.publisher();
await publisher.connect();
const { pool } = await createTestDatabase();
const app = buildIngestApp({ publisher, codec, logger, pool, auth: fixedTenant(DEFAULT_TENANT) }, { topic, maxBodyBytes: 64 * 1024, maxBatchEvents: 50, retryAfterSeconds: 5 });
const landed: InRecord[] = [];
const reader = kafka.consumer({ groupId: `reader-${uid()}` });
await reader.start(topic, async (records) => {
  landed.push(...records);
});
afterAll(async () => {
  await reader.stop();
  await app.close();
  await publisher.disconnect();
});

const now = () => new Date().toISOString();
const started = (id: string, sessionId = `s-${id}`) => ({ event_id: id, session_id: sessionId, agent_id: 'agent', type: 'session.started', occurred_at: now() });
const post = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/events', payload: payload as object });
const landedIds = () => landed.map((r) => codec.decode(r.value as Buffer).event.eventId);

describe('POST /v1/events', () => {
  it('answers 207 with a result per event when some are rejected, and the good ones reach Kafka keyed by session', async () => {
    const id = uid();
    const res = await post({
      events: [
        started(`${id}-ok-1`, `sess-${id}`),
        { ...started(`${id}-bad`), input_tokens: -3, type: 'llm.usage' },
        started(`${id}-ok-2`, `sess-${id}`),
        { event_id: `${id}-future`, session_id: 's', agent_id: 'a', type: 'session.started', occurred_at: new Date(Date.now() + 2 * 86_400_000).toISOString() },
      ],
    });
    expect(res.statusCode).toBe(207);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 2, rejected: 2 });
    expect(body.results).toEqual([
      { index: 0, eventId: `${id}-ok-1`, status: 'accepted' },
      { index: 1, eventId: `${id}-bad`, status: 'rejected', code: 'TL_EVENT_BAD_TOKENS', field: 'input_tokens', message: expect.stringContaining('input_tokens') },
      { index: 2, eventId: `${id}-ok-2`, status: 'accepted' },
      { index: 3, eventId: `${id}-future`, status: 'rejected', code: 'TL_EVENT_FUTURE_TIME', field: 'occurred_at', message: expect.any(String) },
    ]);
    await waitFor(() => landedIds().filter((e) => e.startsWith(id)).length >= 2, { what: 'accepted events on the topic' });
    expect(landedIds().filter((e) => e.startsWith(id)).sort()).toEqual([`${id}-ok-1`, `${id}-ok-2`]);
    const keys = landed.filter((r) => codec.decode(r.value as Buffer).event.eventId.startsWith(id)).map((r) => r.key?.toString());
    expect(keys).toEqual([`sess-${id}`, `sess-${id}`]);
  });

  it('answers 400 with every result when all events are rejected, and publishes nothing', async () => {
    const id = uid();
    const res = await post({ events: [{ event_id: `${id}-x`, type: 'nope' }] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TL_INGEST_ALL_REJECTED', rejected: 1, results: [{ index: 0, code: 'TL_EVENT_BAD_TYPE', field: 'type' }] });
  });

  it('answers 400 naming the problem when the body is not a batch', async () => {
    for (const payload of [{ event: [] }, { events: 'x' }, { events: [] }, [started('a')]]) {
      const res = await post(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe('TL_INGEST_BAD_REQUEST');
      expect(res.json().message).toMatch(/events|body/);
    }
    const malformed = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: '{"events": [' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().code).toBe('TL_INGEST_BAD_JSON');
  });

  it('answers 413 over the body size limit and over the batch length limit', async () => {
    const big = await post({ events: Array.from({ length: 40 }, (_, i) => ({ ...started(`big-${i}`), agent_id: 'x'.repeat(2000) })) });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('TL_INGEST_BODY_TOO_LARGE');
    const many = await post({ events: Array.from({ length: 51 }, (_, i) => started(`many-${i}`)) });
    expect(many.statusCode).toBe(413);
    expect(many.json()).toMatchObject({ code: 'TL_INGEST_TOO_MANY_EVENTS', message: expect.stringContaining('at most 50') });
  });

  it('publishes an event repeated inside one batch once, and reports both as accepted', async () => {
    const id = uid();
    const res = await post({ events: [started(`${id}-dup`), started(`${id}-dup`)] });
    expect(res.statusCode).toBe(202);
    expect(res.json().accepted).toBe(2);
    await waitFor(() => landedIds().includes(`${id}-dup`), { what: 'the event on the topic' });
    const marker = uid();
    expect((await post({ events: [started(marker)] })).statusCode).toBe(202);
    await waitFor(() => landedIds().includes(marker), { what: 'a later event on the topic' });
    expect(landedIds().filter((e) => e === `${id}-dup`)).toHaveLength(1);
  });
});
