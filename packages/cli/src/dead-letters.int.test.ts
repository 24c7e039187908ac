import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConsumerService } from '@traceledger/consumer';
import { CURRENT_SCHEMA_FILE, EventCodec, SCHEMAS_DIR, parseSchema } from '@traceledger/contract';
import { DEFAULT_TENANT, type TraceEvent } from '@traceledger/core';
import { createTestDatabase, createTestTopics, testLogger, uid, waitFor } from '../../../tests/helpers/world.js';
import { deadLettersCommand, type DeadLetter } from './dead-letters.js';
import { UsageError, createOutput } from './output.js';

// The dead-letter command against the real broker and a consumer group member on topics of this
// file's own. The story: a producer starts writing contract v2 before the consumer knows it; the
// v2 records are dead-lettered; v2 is added to the consumer's schemas; the operator lists the
// dead letters and re-drives them; they are folded, once, however often they are re-driven.

const logger = testLogger();
const { url: databaseUrl, pool } = await createTestDatabase();
const { brokers, kafka, topic, deadLetterTopic, group } = await createTestTopics(logger);
const topics = { topic, deadLetterTopic };
const v1 = EventCodec.fromDirectory();
const v2Schema = parseSchema(readFileSync(fileURLToPath(new URL('../../contract/src/__fixtures__/trace-event-v2.avsc', import.meta.url)), 'utf8'));
const v2Writer = new EventCodec(v2Schema);

/** A consumer group member folding `topic` with `codec`; stopped by the caller or after the file. */
async function startConsumer(codec: EventCodec) {
  const service = buildConsumerService({ consumer: kafka.consumer({ groupId: group }), deadLetters: kafka.publisher(), pool, codec, logger }, topics);
  await service.start();
  let stopped = false;
  const stop = async () => {
    if (!stopped) await service.stop();
    stopped = true;
  };
  afterAll(stop);
  return { stop };
}

/** Runs the command in this process; returns what it printed (its --json document). */
async function run(args: string[]): Promise<Record<string, unknown>> {
  let printed = '';
  await deadLettersCommand(kafka, topics, args, createOutput(true, (s) => (printed += s)));
  return JSON.parse(printed) as Record<string, unknown>;
}

function usage(sessionId: string, eventId: string, costNanos: bigint): TraceEvent {
  return {
    eventId, tenantId: DEFAULT_TENANT, sessionId, agentId: 'dl-agent', teamId: null, type: 'llm.usage',
    occurredAtMs: Date.now() - 60_000, provider: 'openai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5,
    cachedInputTokens: 0, reasoningTokens: 0, costNanos, status: null, error: null, toolName: null,
    durationMs: null, voidsEventId: null, reason: null,
  };
}

const sessionRow = async (sessionId: string) =>
  (await pool.query<{ event_count: number; cost: string }>('SELECT event_count::int AS event_count, cost::text FROM trace_sessions WHERE session_id = $1', [sessionId])).rows[0];
const drained = () => waitFor(async () => (await kafka.consumerLag(group, topic)) === 0, { what: 'the consumer to drain the topic' });

const sessionId = `dl-${uid()}`;
let deadLetters: DeadLetter[] = [];

describe('traceledger dead-letters', () => {
  it('lists each dead letter with its partition, offset, code, reason, source and key', async () => {
    const consumer = await startConsumer(v1);
    const publisher = kafka.publisher();
    await publisher.connect();
    afterAll(() => publisher.disconnect());
    // One key, one partition, in this order.
    await publisher.publish(topic, [
      { key: sessionId, value: v1.encode(usage(sessionId, `${sessionId}-v1`, 1_000_000_000n), Date.now()) },
      { key: sessionId, value: v2Writer.encode(usage(sessionId, `${sessionId}-v2a`, 2_000_000_000n), Date.now()) },
      { key: sessionId, value: Buffer.from('not avro at all') },
      { key: sessionId, value: v2Writer.encode(usage(sessionId, `${sessionId}-v2b`, 4_000_000_000n), Date.now()) },
    ]);
    await waitFor(async () => (await sessionRow(sessionId))?.event_count === 1, { what: 'the v1 event folded' });
    await waitFor(async () => (await kafka.readTopic(deadLetterTopic)).length === 3, { what: 'three dead letters' });
    await consumer.stop();

    const listed = await run(['list']);
    deadLetters = listed['deadLetters'] as DeadLetter[];
    expect(listed['more']).toBe(false);
    expect(deadLetters.map((d) => [d.partition, d.offset, d.code, d.key])).toEqual([
      [0, '0', 'TL_RECORD_UNKNOWN_FINGERPRINT', sessionId],
      [0, '1', 'TL_RECORD_NOT_SINGLE_OBJECT', sessionId],
      [0, '2', 'TL_RECORD_UNKNOWN_FINGERPRINT', sessionId],
    ]);
    for (const d of deadLetters) {
      expect(d.sourceTopic).toBe(topic);
      expect(d.sourcePartition).toBeTypeOf('number');
      expect(d.sourceOffset).toMatch(/^\d+$/);
      expect(d.reason.length).toBeGreaterThan(10);
    }
    expect(deadLetters.map((d) => Number(d.sourceOffset))).toEqual([1, 2, 3]);

    // --limit, and the lines a person reads.
    const lines: string[] = [];
    await deadLettersCommand(kafka, topics, ['list', '--limit', '2'], createOutput(false, (s) => lines.push(s)));
    const text = lines.join('');
    expect(text).toContain(`0:0\tTL_RECORD_UNKNOWN_FINGERPRINT\tfrom ${topic}/`);
    expect(text).toContain(`key "${sessionId}"`);
    expect(text).not.toContain('0:2\t');
    expect(text).toContain('2 dead letter(s)');
    expect(text).toContain('more after these');
  });

  it('re-drives the chosen dead letters once the consumer knows their schema, and re-driving again changes nothing', async () => {
    // The fix: the v2 schema joins schemas/ and the consumer restarts with it.
    const schemas = mkdtempSync(join(tmpdir(), 'tl-schemas-'));
    afterAll(() => rmSync(schemas, { recursive: true, force: true }));
    copyFileSync(join(SCHEMAS_DIR, CURRENT_SCHEMA_FILE), join(schemas, CURRENT_SCHEMA_FILE));
    copyFileSync(fileURLToPath(new URL('../../contract/src/__fixtures__/trace-event-v2.avsc', import.meta.url)), join(schemas, 'trace-event.v2.avsc'));
    await startConsumer(EventCodec.fromDirectory(schemas));

    const dry = await run(['redrive', '--code', 'TL_RECORD_UNKNOWN_FINGERPRINT', '--dry-run']);
    expect((dry['redriven'] as DeadLetter[]).map((d) => d.offset)).toEqual(['0', '2']);
    await drained();
    expect(await sessionRow(sessionId)).toEqual({ event_count: 1, cost: '1.000000000' });

    const done = await run(['redrive', '--code', 'TL_RECORD_UNKNOWN_FINGERPRINT']);
    expect(done).toMatchObject({ dryRun: false, topic, skipped: [] });
    expect((done['redriven'] as DeadLetter[]).map((d) => [d.offset, d.code, d.key])).toEqual([
      ['0', 'TL_RECORD_UNKNOWN_FINGERPRINT', sessionId],
      ['2', 'TL_RECORD_UNKNOWN_FINGERPRINT', sessionId],
    ]);
    await waitFor(async () => (await sessionRow(sessionId))?.event_count === 3, { what: 'both v2 events folded' });
    expect(await sessionRow(sessionId)).toEqual({ event_count: 3, cost: '7.000000000' });

    // Again, by offset: the records land on the topic a second time and the fold ignores them.
    const again = await run(['redrive', '--offset', '0:0', '--offset', '0:2']);
    expect(again['redriven']).toHaveLength(2);
    await drained();
    expect(await sessionRow(sessionId)).toEqual({ event_count: 3, cost: '7.000000000' });
    const applied = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM applied_events WHERE session_id = $1', [sessionId]);
    expect(applied.rows[0]?.n).toBe(3);
    // The re-driven records on the topic carry the original bytes, key and where they came from.
    const onTopic = (await kafka.readTopic(topic)).filter((r) => r.headers['tl-redriven-from'] !== undefined);
    expect(onTopic).toHaveLength(4);
    expect(onTopic.map((r) => r.key?.toString())).toEqual(Array(4).fill(sessionId));
    expect(onTopic[0]?.headers['tl-redriven-from']).toBe(`${deadLetterTopic}/0/0`);
    const first = deadLetters[0];
    const original = (await kafka.readTopic(topic)).find((r) => r.partition === first?.sourcePartition && r.offset === first.sourceOffset);
    expect(original?.value?.length).toBeGreaterThan(10);
    expect(onTopic[0]?.value?.equals(original?.value ?? Buffer.alloc(0))).toBe(true);
  });

  it('sends a record that still cannot be read back to the dead-letter topic, as a new dead letter', async () => {
    await run(['redrive', '--offset', '0:1']);
    await waitFor(async () => (await kafka.readTopic(deadLetterTopic)).length === 4, { what: 'the garbage dead-lettered again' });
    const listed = (await run(['list']))['deadLetters'] as DeadLetter[];
    expect(listed[3]).toMatchObject({ offset: '3', code: 'TL_RECORD_NOT_SINGLE_OBJECT', sourceTopic: topic, key: sessionId });
    expect(await sessionRow(sessionId)).toEqual({ event_count: 3, cost: '7.000000000' });
  });

  it('refuses an offset that is not a dead letter, and unclear selections, re-driving nothing', async () => {
    const before = (await kafka.readTopic(topic)).length;
    await expect(run(['redrive', '--offset', '0:0', '--offset', '0:999'])).rejects.toThrow(/no dead letter at 0:999.*nothing was re-driven/);
    await expect(run(['redrive'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['redrive', '--offset', '0:0', '--code', 'TL_RECORD_UNDECODABLE'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['redrive', '--offset', 'zero'])).rejects.toThrow(/PARTITION:OFFSET/);
    await expect(run(['list', '--limit', '0'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['purge'])).rejects.toBeInstanceOf(UsageError);
    expect((await kafka.readTopic(topic)).length).toBe(before);
  });

  it('works as bin/traceledger dead-letters, with settings from the environment', async () => {
    const bin = resolve(fileURLToPath(new URL('../../../bin/traceledger', import.meta.url)));
    const env = { ...process.env, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: deadLetterTopic, DATABASE_URL: databaseUrl };
    const { stdout } = await promisify(execFile)(bin, ['dead-letters', 'list', '--json'], { env, timeout: 60_000 });
    const listed = JSON.parse(stdout) as { topic: string; deadLetters: DeadLetter[] };
    expect(listed.topic).toBe(deadLetterTopic);
    expect(listed.deadLetters.map((d) => d.code)).toEqual(['TL_RECORD_UNKNOWN_FINGERPRINT', 'TL_RECORD_NOT_SINGLE_OBJECT', 'TL_RECORD_UNKNOWN_FINGERPRINT', 'TL_RECORD_NOT_SINGLE_OBJECT']);
    const help = await promisify(execFile)(bin, ['dead-letters', '--help'], { env });
    expect(help.stdout).toContain('traceledger dead-letters redrive');
    const usageError = await promisify(execFile)(bin, ['dead-letters', 'redrive'], { env }).catch((err: { code: number; stderr: string }) => err);
    expect(usageError).toMatchObject({ code: 2, stderr: expect.stringContaining('--offset P:O') });
  });
});
