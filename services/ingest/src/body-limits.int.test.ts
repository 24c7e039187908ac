import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliCompressSync, createGunzip, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { EventCodec } from '@traceledger/contract';
import type { InRecord } from '@traceledger/kafka';
import { createTestDatabase, createTestTopics, testLogger, uid, waitFor } from '../../../tests/helpers/world.js';
import { buildIngestApp } from './app.js';

// How ingest reads bodies: Content-Encoding, the limits on decoded size and on each event,
// UTF-8, and clients that send too slowly. Real broker; a reader group sees what landed.
const logger = testLogger();
const { kafka, topic } = await createTestTopics(logger);
const { pool } = await createTestDatabase();
const codec = EventCodec.fromDirectory();
const publisher = kafka.publisher();
await publisher.connect();
const MAX_BODY = 1_048_576;
const app = buildIngestApp(
  { publisher, codec, logger, pool, auth: fixedTenant(DEFAULT_TENANT) },
  { topic, maxBodyBytes: MAX_BODY, maxBatchEvents: 10_000, retryAfterSeconds: 5, requestTimeoutMs: 1000 },
);
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

const started = (id: string) => ({ event_id: id, session_id: `s-${id}`, agent_id: 'agent', type: 'session.started', occurred_at: new Date().toISOString() });
const landedIds = () => landed.map((r) => codec.decode(r.value as Buffer).event.eventId);
const postRaw = (payload: Buffer | string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload });

describe('Content-Encoding', () => {
  it('accepts gzip, deflate and br bodies and publishes their events', async () => {
    const id = uid();
    const body = (n: string) => Buffer.from(JSON.stringify({ events: [started(`${id}-${n}`)] }));
    const answers = await Promise.all([
      postRaw(gzipSync(body('gzip')), { 'content-encoding': 'gzip' }),
      postRaw(deflateSync(body('deflate')), { 'content-encoding': 'deflate' }),
      postRaw(brotliCompressSync(body('br')), { 'content-encoding': 'br' }),
      postRaw(body('identity'), { 'content-encoding': 'identity' }),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([202, 202, 202, 202]);
    await waitFor(() => landedIds().filter((e) => e.startsWith(id)).length === 4, { what: 'four events on the topic' });
  });

  it('answers a gzip bomb with 413 after inflating no more than the body limit', async () => {
    // 1 GiB of JSON whitespace in 64 gzip members of 16 MiB each: about 1 MB on the wire.
    const member = gzipSync(Buffer.alloc(16 * 1_048_576, 0x20), { level: 9 });
    const bomb = Buffer.concat([gzipSync('{"events":['), ...Array.from({ length: 64 }, () => member), gzipSync(']}')]);
    expect(bomb.length).toBeLessThan(MAX_BODY);
    // What inflating it all costs here, streaming and counting only.
    const t0 = performance.now();
    let inflated = 0;
    await pipeline(
      [bomb],
      createGunzip(),
      new Writable({
        write(chunk: Buffer, _e, done) {
          inflated += chunk.length;
          done();
        },
      }),
    );
    const fullMs = performance.now() - t0;
    expect(inflated).toBeGreaterThan(1024 * 1_048_576);

    const t1 = performance.now();
    const res = await postRaw(bomb, { 'content-encoding': 'gzip' });
    const answerMs = performance.now() - t1;
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'TL_INGEST_BODY_TOO_LARGE', message: expect.stringContaining('decompressed') });
    expect(answerMs, `answered in ${answerMs.toFixed(0)} ms; inflating all takes ${fullMs.toFixed(0)} ms`).toBeLessThan(fullMs / 4);
  });

  it('applies the body limit to the decoded size: a batch that compresses well under 1 MiB but is larger gets 413', async () => {
    const id = uid();
    const events = Array.from({ length: 9000 }, (_, i) => started(`${id}-${i}`));
    const json = Buffer.from(JSON.stringify({ events }));
    expect(json.length).toBeGreaterThan(MAX_BODY);
    const zipped = gzipSync(json);
    expect(zipped.length).toBeLessThan(MAX_BODY / 4);
    const res = await postRaw(zipped, { 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('TL_INGEST_BODY_TOO_LARGE');
  });

  it('answers 415 for an encoding it does not know and 400 for a body that is not what its encoding says', async () => {
    const body = JSON.stringify({ events: [started(uid())] });
    const unknown = await postRaw(body, { 'content-encoding': 'compress' });
    expect(unknown.statusCode).toBe(415);
    expect(unknown.json()).toMatchObject({ code: 'TL_INGEST_UNSUPPORTED_ENCODING', message: expect.stringContaining('gzip') });
    const stacked = await postRaw(gzipSync(gzipSync(body)), { 'content-encoding': 'gzip, gzip' });
    expect(stacked.statusCode).toBe(415);
    const notGzip = await postRaw(body, { 'content-encoding': 'gzip' });
    expect(notGzip.statusCode).toBe(400);
    expect(notGzip.json().code).toBe('TL_INGEST_BAD_ENCODING');
    // Found by the fuzz test: a broken body under a content type ingest does not read was decoded
    // after Fastify had answered, and the decoding error was thrown uncaught (a crash).
    const unread = await postRaw('not gzip at all', { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
    expect(unread.statusCode).toBe(415);
    await new Promise((r) => setTimeout(r, 50)); // the decoder fails on a later tick
    const truncated = gzipSync(body);
    const cut = await postRaw(truncated.subarray(0, truncated.length - 10), { 'content-encoding': 'gzip' });
    expect(cut.statusCode).toBe(400);
    expect(cut.json().code).toBe('TL_INGEST_BAD_ENCODING');
  });
});

describe('per-event size limit', () => {
  it('rejects an event over 32 KiB of JSON in the batch answer and publishes the others', async () => {
    const id = uid();
    // An unknown field would be rejected anyway; the size check comes first and says why.
    const big = { ...started(`${id}-big`), error: 'x'.repeat(40_000) };
    const res = await postRaw(JSON.stringify({ events: [started(`${id}-a`), big, started(`${id}-b`)] }));
    expect(res.statusCode).toBe(207);
    expect(res.json().results).toEqual([
      { index: 0, eventId: `${id}-a`, status: 'accepted' },
      { index: 1, eventId: `${id}-big`, status: 'rejected', code: 'TL_EVENT_TOO_LARGE', message: expect.stringContaining('32768 bytes') },
      { index: 2, eventId: `${id}-b`, status: 'accepted' },
    ]);
    await waitFor(() => landedIds().filter((e) => e.startsWith(id)).length >= 2, { what: 'the two small events' });
    const marker = uid();
    expect((await postRaw(JSON.stringify({ events: [started(marker)] }))).statusCode).toBe(202);
    await waitFor(() => landedIds().includes(marker), { what: 'a later event' });
    expect(landedIds().filter((e) => e.startsWith(id)).sort()).toEqual([`${id}-a`, `${id}-b`]);
  });

  it('takes its limit from the options (MAX_EVENT_BYTES)', async () => {
    const small = buildIngestApp({ publisher, codec, logger, pool, auth: fixedTenant(DEFAULT_TENANT) }, { topic, maxBodyBytes: MAX_BODY, maxBatchEvents: 10, retryAfterSeconds: 5, maxEventBytes: 300 });
    afterAll(() => small.close());
    const id = uid();
    const ok = started(`${id}-ok`);
    const over = { ...started(`${id}-over`), team_id: 't'.repeat(128), agent_id: 'a'.repeat(128) };
    expect(Buffer.byteLength(JSON.stringify(ok))).toBeLessThan(300);
    expect(Buffer.byteLength(JSON.stringify(over))).toBeGreaterThan(300);
    const res = await small.inject({ method: 'POST', url: '/v1/events', payload: { events: [ok, over] } });
    expect(res.statusCode).toBe(207);
    expect(res.json().results[1]).toMatchObject({ code: 'TL_EVENT_TOO_LARGE', message: expect.stringContaining('300 bytes') });
  });
});

describe('bytes that are not UTF-8', () => {
  it('answers 400 TL_INGEST_BAD_UTF8 instead of turning them into U+FFFD inside an id', async () => {
    const json = Buffer.from(JSON.stringify({ events: [started('utf8-XX')] }));
    const at = json.indexOf('XX');
    json[at] = 0xff;
    json[at + 1] = 0xfe;
    const res = await postRaw(json);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('TL_INGEST_BAD_UTF8');
  });
});

describe('slow clients (slow-loris)', () => {
  /** Opens a raw connection, sends `head`, then one byte of `drip` every `everyMs`; resolves with what the server wrote and how long it took to close. */
  async function slowRequest(port: number, head: string, drip: string, everyMs: number): Promise<{ answer: string; closedAfterMs: number }> {
    const socket = connect(port, '127.0.0.1');
    const t0 = Date.now();
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.write(head);
    let i = 0;
    const timer = setInterval(() => {
      if (i < drip.length && !socket.destroyed) socket.write(drip[i++] ?? '');
    }, everyMs);
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    clearInterval(timer);
    return { answer, closedAfterMs: Date.now() - t0 };
  }

  it('answers 408 and closes a connection whose body or headers trickle in longer than the request timeout; 400 and 431 for broken HTTP', async () => {
    const slowApp = buildIngestApp({ publisher, codec, logger, pool, auth: fixedTenant(DEFAULT_TENANT) }, { topic, maxBodyBytes: MAX_BODY, maxBatchEvents: 10, retryAfterSeconds: 5, requestTimeoutMs: 1000 });
    afterAll(() => slowApp.close());
    await slowApp.listen({ port: 0, host: '127.0.0.1' });
    const { port } = slowApp.server.address() as { port: number };
    const body = JSON.stringify({ events: [started(uid())] });
    const head = `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const bodyDrip = await slowRequest(port, head, body, 100);
    expect(bodyDrip.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(bodyDrip.answer.split('\r\n\r\n')[1] ?? '')).toMatchObject({ statusCode: 408, code: 'TL_INGEST_REQUEST_TIMEOUT' });
    expect(bodyDrip.closedAfterMs).toBeGreaterThanOrEqual(1000);
    expect(bodyDrip.closedAfterMs).toBeLessThan(3500);
    // Headers that never finish get the same.
    const headerDrip = await slowRequest(port, 'POST /v1/events HTTP/1.1\r\nHost: x\r\n', 'X-Slow: '.padEnd(200, 'z'), 100);
    expect(headerDrip.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(headerDrip.closedAfterMs).toBeLessThan(3500);
    // Bytes that are not HTTP, and headers over Node's 16 KiB: coded answers, then the connection closes.
    const garbage = await slowRequest(port, 'HELLO THERE\r\n\r\n', '', 100);
    expect(garbage.answer).toMatch(/^HTTP\/1\.1 400/);
    expect(garbage.answer).toContain('"code":"TL_INGEST_BAD_HTTP"');
    const huge = await slowRequest(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, '', 100);
    expect(huge.answer).toMatch(/^HTTP\/1\.1 431/);
    expect(huge.answer).toContain('"code":"TL_INGEST_HEADERS_TOO_LARGE"');
  });
});
