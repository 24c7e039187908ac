import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { msg, spawnService, type LogLine } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// The topic grows from 3 to 6 partitions while traffic flows and two consumer processes fold it:
// the producer sends sessions that already have records to new partitions, the group rebalances
// by itself (KAFKA_METADATA_MAX_AGE_MS) and other members fold them. The ledger's concurrency
// rule, not the partitioning, keeps each session exact.
printProcessLogsOnFailure();
const folded = (l: LogLine) => l.msg === 'folded batch';

describe('partitions added while traffic flows', () => {
  it('moves sessions to new partitions and other consumers, and every total stays exact', { tags: ['slow'] }, async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl'), partitions: 3 });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const env = world.consumerEnv({ KAFKA_METADATA_MAX_AGE_MS: '2000' });
    const members = [spawnService('consumer', env, 'consumer-a'), spawnService('consumer', env, 'consumer-b')];
    await Promise.all(members.map((m) => m.waitForLog(msg('consumer running'), { timeoutMs: 45_000 })));
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]), { batchSize: 14 });
    await waitFor(() => traffic.batches() >= 15, { timeoutMs: 30_000, what: 'traffic flowing' });

    const admin = new Kafka({ clientId: 'tl-test-growth', brokers: world.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: world.topic, count: 6 }] });
      // The producer learns of them from its metadata, then new records land there...
      await waitFor(async () => (await admin.fetchTopicOffsets(world.topic)).filter((p) => p.partition >= 3 && BigInt(p.high) > 0n).length === 3, {
        timeoutMs: 45_000,
        what: 'records on the three new partitions',
      });
      // ...and the group takes them in: some member folds a batch of a new partition.
      await waitFor(() => members.some((m) => m.logs.some((l) => folded(l) && Number(l['partition']) >= 3)), { timeoutMs: 45_000, what: 'a batch of a new partition folded' });
      const from = traffic.batches();
      await waitFor(() => traffic.batches() >= from + 10, { timeoutMs: 30_000, what: 'more traffic after the growth' });
      const acked = await traffic.stop();
      await world.drained({ timeoutMs: 60_000 });
      await expectExactlyOnce(world.pool, acked);

      // Sessions really moved: some have records in an old and a new partition.
      const where = new Map<string, Set<number>>();
      for (const r of await world.kafka.readTopic(world.topic)) {
        const key = r.key?.toString() ?? '';
        where.set(key, (where.get(key) ?? new Set()).add(r.partition));
      }
      const moved = [...where.values()].filter((ps) => [...ps].some((p) => p < 3) && [...ps].some((p) => p >= 3)).length;
      expect(moved, 'sessions with records in an old and a new partition').toBeGreaterThan(0);
      const byMember = members.map((m) => new Set(m.logs.filter(folded).map((l) => Number(l['partition']))));
      await annotate(`${acked.length} events; ${moved} sessions split across old and new partitions; partitions folded per member: ${byMember.map((s) => [...s].sort().join(',')).join(' | ')}`);
      for (const m of members) m.signal('SIGTERM');
      for (const m of members) expect((await m.exited).code).toBe(0);
    } finally {
      await admin.disconnect();
    }
  });
});
