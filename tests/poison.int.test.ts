import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { deadLettersCommand, type DeadLetter } from '@traceledger/cli/dead-letters';
import { replayCommand } from '@traceledger/cli/replay';
import { createOutput } from '@traceledger/cli/output';
import { buildConsumerService } from '@traceledger/consumer';
import { EventCodec, HEADER, describeDeadLetter, eventRecord } from '@traceledger/contract';
import { traceEvent, type TraceEvent } from '@traceledger/core';
import { closeBackfill, createBackfill, createPool, dropDatabase, migrate, verifyLedger } from '@traceledger/db';
import type { InRecord } from '@traceledger/kafka';
import { registerCleanup } from './helpers/cleanup.js';
import { createTestTopics, testLogger, uid, waitFor } from './helpers/world.js';

// One bad record never stops billing for everyone. Records the database itself refuses — a
// character its encoding cannot hold, a value out of a column's range, a constraint — are found by
// splitting the batch and dead-lettered with the database's reason and SQLSTATE, while the rest of
// their batch folds and the partition goes on; on the live path, the backfill path and the replay
// path. The refusals are real: this file's database is LATIN1 (no '€'), and it carries a CHECK
// constraint and a narrowed column of its own.

const logger = testLogger();
const { kafka, topic, deadLetterTopic, group } = await createTestTopics(logger);
const admin = new URL(inject('adminDatabaseUrl'));
admin.pathname = `/tl_test_${inject('runId')}_${uid()}`;
const databaseUrl = admin.toString();
{
  const root = new URL(databaseUrl);
  root.pathname = '/postgres';
  const c = new pg.Client({ connectionString: root.toString() });
  await c.connect();
  await c.query(`CREATE DATABASE "${admin.pathname.slice(1)}" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
  await c.end();
}
registerCleanup(() => dropDatabase(databaseUrl));
await migrate(databaseUrl);
const pool = createPool(databaseUrl, { max: 4, applicationName: 'traceledger-test' });
registerCleanup(() => pool.end());
await pool.query(`ALTER TABLE applied_events ADD CONSTRAINT test_refuses_agent CHECK (agent_id IS DISTINCT FROM 'refused-agent')`);
await pool.query('ALTER TABLE applied_events ALTER COLUMN input_tokens TYPE integer');

const codec = EventCodec.fromDirectory();
const consumer = buildConsumerService({ consumer: kafka.consumer({ groupId: group }), deadLetters: kafka.publisher(), pool, codec, logger }, { topic, deadLetterTopic });
await consumer.start();
registerCleanup(() => consumer.stop());
const publisher = kafka.publisher();
await publisher.connect();
registerCleanup(() => publisher.disconnect());

const tenant = `poison-${uid()}`;
const usage = (sessionId: string, eventId: string, over: Partial<TraceEvent> = {}): TraceEvent =>
  traceEvent({ eventId, tenantId: tenant, sessionId, type: 'llm.usage', occurredAtMs: Date.now() - 60_000, agentId: 'agent', model: 'gpt-4o', inputTokens: 10, outputTokens: 1, costNanos: 1_000_000n, ...over });

const drained = () => waitFor(async () => (await kafka.consumerLag(group, topic)) === 0, { what: 'the consumer to commit the whole topic', timeoutMs: 60_000 });
const deadLetters = async (): Promise<(DeadLetter & { headers: InRecord['headers']; value: InRecord['value'] })[]> =>
  (await kafka.readTopic(deadLetterTopic)).map((r) => ({ ...describeDeadLetter(r), headers: r.headers, value: r.value }));
const session = async (sessionId: string) =>
  (await pool.query<{ events: string; cost: string }>('SELECT event_count::text AS events, cost::text FROM trace_sessions WHERE tenant_id = $1 AND session_id = $2', [tenant, sessionId])).rows[0];

describe('records the database refuses', () => {
  it('are dead-lettered one by one with the reason and SQLSTATE, while the rest of their batch folds and the partition goes on', async () => {
    const s = `batch-${uid()}`;
    const events = Array.from({ length: 40 }, (_, i) => usage(s, `${s}-${i}`));
    events[7] = usage(s, `${s}-euro`, { model: 'gpt-€' }); // 22P05: no '€' in LATIN1
    events[19] = usage(s, `${s}-check`, { agentId: 'refused-agent' }); // 23514: the CHECK constraint
    events[31] = usage(s, `${s}-range`, { inputTokens: 3_000_000_000 }); // 22003: out of the integer column's range
    // One send, one key: one partition, one fetched batch, in this order; then one more batch after it.
    await publisher.publish(topic, events.map((e) => eventRecord(codec, e, Date.now())));
    await publisher.publish(topic, [eventRecord(codec, usage(s, `${s}-after`), Date.now())]);
    await drained();

    expect(await session(s)).toEqual({ events: '38', cost: '0.038000000' });
    const mine = (await deadLetters()).filter((d) => d.key === s);
    expect(mine.map((d) => [d.code, d.sqlstate]).sort()).toEqual([
      ['TL_RECORD_REFUSED_BY_DATABASE', '22003'],
      ['TL_RECORD_REFUSED_BY_DATABASE', '22P05'],
      ['TL_RECORD_REFUSED_BY_DATABASE', '23514'],
    ]);
    for (const d of mine) {
      expect(d.reason).toMatch(/^the database refused the record: /);
      expect(d.sourceTopic).toBe(topic);
      expect(d.headers[HEADER.eventId]).toMatch(new RegExp(`^${s}-(euro|check|range)$`));
      // The original bytes, to inspect and re-drive.
      expect(codec.decode(d.value as Buffer).event.eventId).toBe(d.headers[HEADER.eventId]);
    }
    expect((await verifyLedger(pool, { tenantId: tenant })).drifts).toEqual([]);
  });

  it('a record written straight to the topic with a string no field may hold is dead-lettered as breaking the contract, and the consumer goes on', async () => {
    const s = `strings-${uid()}`;
    const bad: [string, Partial<TraceEvent>][] = [
      ['model-nul', { model: 'gpt\u00004o' }],
      ['provider-surrogate', { provider: 'open\ud800ai' }],
      ['agent-control', { agentId: 'agent\u0007' }],
      ['team-nul', { teamId: '\u0000' }],
    ];
    await publisher.publish(topic, [
      ...bad.map(([id, over]) => eventRecord(codec, usage(s, `${s}-${id}`, over), Date.now())),
      eventRecord(codec, usage(s, `${s}-good`), Date.now()),
    ]);
    await drained();
    expect(await session(s)).toEqual({ events: '1', cost: '0.001000000' });
    const mine = (await deadLetters()).filter((d) => d.key === s);
    expect(mine.map((d) => d.code)).toEqual(Array(bad.length).fill('TL_RECORD_BREAKS_CONTRACT'));
    expect(mine.map((d) => /(model|provider|agent_id|team_id)/.exec(d.reason)?.[1])).toEqual(['model', 'provider', 'agent_id', 'team_id']);
  });

  it('on the backfill path: the refused record keeps its backfill header, and re-driven after the fix it counts in its (closed) backfill', async () => {
    const s = `backfill-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    const events = Array.from({ length: 5 }, (_, i) => usage(s, `${s}-${i}`, i === 2 ? { agentId: 'refused-agent' } : {}));
    await publisher.publish(topic, events.map((e) => eventRecord(codec, e, Date.now(), { backfillId: b.backfillId })));
    await drained();
    const letter = (await deadLetters()).find((d) => d.key === s);
    expect(letter).toMatchObject({ code: 'TL_RECORD_REFUSED_BY_DATABASE', sqlstate: '23514', backfillId: b.backfillId });
    expect(await session(s)).toBeUndefined(); // staged
    await closeBackfill(pool, b.backfillId);
    expect(await session(s)).toEqual({ events: '4', cost: '0.004000000' });

    // The fix, then the re-drive: the record comes back with its backfill header and counts.
    await pool.query('ALTER TABLE applied_events DROP CONSTRAINT test_refuses_agent');
    await deadLettersCommand(kafka, { topic, deadLetterTopic }, ['redrive', '--offset', `${letter?.partition}:${letter?.offset}`], createOutput(true, () => undefined));
    await waitFor(async () => (await session(s))?.events === '5', { what: 'the re-driven record folded into its backfill', timeoutMs: 30_000 });
    const { rows } = await pool.query('SELECT backfill_id FROM backfill_events WHERE tenant_id = $1 AND event_id = $2', [tenant, `${s}-2`]);
    expect(rows).toEqual([{ backfill_id: b.backfillId }]);
    expect((await verifyLedger(pool, { tenantId: tenant })).drifts).toEqual([]);
  });

  it('on the replay path: a record the database refuses in the shadow is dead-lettered and reported, and the rest is swapped in', async () => {
    const replayTenant = `replay-${uid()}`;
    const s = `replay-${uid()}`;
    const ev = (id: string, over: Partial<TraceEvent> = {}) => ({ ...usage(s, `${s}-${id}`, over), tenantId: replayTenant });
    await publisher.publish(topic, [ev('a'), ev('b', { model: 'replay-refused', costNanos: 2_000_000n }), ev('c')].map((e) => eventRecord(codec, e, Date.now())));
    await drained();
    // Folded live; then a constraint that the shadow (a copy of the ledger table) enforces and the live rows predate.
    await pool.query(`ALTER TABLE applied_events ADD CONSTRAINT test_refuses_model CHECK (model IS DISTINCT FROM 'replay-refused') NOT VALID`);
    let printed = '';
    await replayCommand(
      pool,
      {
        codec,
        read: (groupId, start, handler) => kafka.readRange(topic, start, handler, { groupId }),
        deadLetters: (messages) => publisher.publish(deadLetterTopic, messages),
      },
      ['--from', 'earliest', '--tenant', replayTenant],
      createOutput(true, (t) => (printed += t), () => undefined),
    );
    const result = JSON.parse(printed) as { refused: Record<string, number>; sessions: number };
    expect(result).toMatchObject({ refused: { TL_RECORD_REFUSED_BY_DATABASE: 1 }, sessions: 1 });
    const letter = (await deadLetters()).find((d) => d.headers[HEADER.eventId] === `${s}-b`);
    expect(letter).toMatchObject({ code: 'TL_RECORD_REFUSED_BY_DATABASE', sqlstate: '23514' });
    expect(letter?.reason).toMatch(/during a replay/);
    // The refused event's live row was not re-derived and stays; the session is whole.
    const { rows } = await pool.query('SELECT event_count::text AS events, cost::text FROM trace_sessions WHERE tenant_id = $1', [replayTenant]);
    expect(rows).toEqual([{ events: '3', cost: '0.004000000' }]);
    await pool.query('ALTER TABLE applied_events DROP CONSTRAINT test_refuses_model');
    expect((await verifyLedger(pool, { tenantId: replayTenant })).drifts).toEqual([]);
  });
});
