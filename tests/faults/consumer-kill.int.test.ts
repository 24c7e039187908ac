import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { msg, spawnService, type LogLine } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid } from '../helpers/world.js';

// Fault 3: the consumer process is SIGKILLed. Killing the consumer leaves the shared broker and
// the shared Postgres alone, so this file uses them (its own topic, group and database).
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const folded = (l: LogLine) => l.msg === 'folded batch';

describe('the consumer killed with SIGKILL', () => {
  it('at random moments mid-stream: each restarted process catches up, and the totals are exact', { tags: ['slow'] }, async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]));

    const killedAfterBatches: number[] = [];
    const processes = [];
    for (let i = 0; i < 4; i++) {
      const consumer = spawnService('consumer', world.consumerEnv(), `consumer-${i}`);
      processes.push(consumer);
      await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000, what: 'joined and running' });
      // A random moment while batches flow: usually mid-batch, sometimes between two.
      await consumer.waitForLog(folded, { timeoutMs: 30_000, what: 'a first folded batch' });
      await sleep(100 + Math.floor(Math.random() * 1500));
      consumer.signal('SIGKILL');
      expect((await consumer.exited).signal).toBe('SIGKILL');
      killedAfterBatches.push(consumer.logs.filter(folded).length);
    }
    const acked = await traffic.stop();

    const last = spawnService('consumer', world.consumerEnv(), 'consumer-last');
    // Running before anything is checked: the last killed process may have committed everything,
    // and a SIGTERM that arrives while the process is still loading its modules ends it by the
    // signal instead of by the drain that this test asserts.
    await last.waitForLog(msg('consumer running'), { timeoutMs: 45_000, what: 'joined and running' });
    await world.drained({ timeoutMs: 60_000 });
    await expectExactlyOnce(world.pool, acked);
    expect(acked.length).toBeGreaterThan(200);
    const reread = [...processes, last].flatMap((p) => p.logs.filter(folded)).reduce((n, l) => n + Number(l['duplicates'] ?? 0), 0);
    await annotate(`${acked.length} events; killed after ${killedAfterBatches.join(', ')} folded batches; ${reread} re-read events skipped by the ledger`);

    last.signal('SIGTERM');
    expect((await last.exited).code).toBe(0);
  });

  it('exactly between the database commit and the offset commit (test hook): the batch is re-read and changes nothing', async () => {
    // One partition, so "the second batch" is a fixed range of offsets.
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl'), partitions: 1 });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const factory = new EventFactory([`ta-${uid()}`, `tb-${uid()}`]);
    const acked: { tenant: string; event: ReturnType<EventFactory['batch']>['events'][number] }[] = [];
    const post = async () => {
      const { tenant, events } = factory.batch(15);
      const res = await ingest.post(tenant, events);
      expect(res.status, res.body).toBe(202);
      acked.push(...events.map((event) => ({ tenant, event })));
    };

    const crashing = spawnService('consumer', world.consumerEnv({ TL_TEST_CRASH_AFTER_DB_COMMIT: '2' }), 'consumer-crash-hook');
    await crashing.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    await post();
    await crashing.waitForLog(folded, { what: 'the first batch folded' });
    await post();
    const exit = await crashing.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(crashing.logs.some(msg('test hook: SIGKILL after the database commit, before the offset commit'))).toBe(true);

    // Both batches are in the ledger, but the group's committed offset still points at the second.
    const { rows } = await world.pool.query<{ n: string; from: string | null }>('SELECT count(*)::text AS n, min(source_offset)::text AS from FROM applied_events WHERE source_offset >= 15');
    expect(Number(rows[0]?.n)).toBe(15);
    const [p0] = await world.kafka.groupOffsets(world.group, world.topic);
    expect(p0).toEqual({ partition: 0, committed: 15n, end: 30n });

    const restarted = spawnService('consumer', world.consumerEnv(), 'consumer-restarted');
    await world.drained({ timeoutMs: 45_000 });
    const redelivered = await restarted.waitForLog(folded, { what: 'the re-read batch' });
    expect(redelivered).toMatchObject({ fromOffset: '15', applied: 0, duplicates: 15 });
    await expectExactlyOnce(world.pool, acked);
    restarted.signal('SIGTERM');
    expect((await restarted.exited).code).toBe(0);
  });
});
