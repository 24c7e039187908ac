import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivateKafkaCluster } from '../helpers/faults/private-kafka.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Production's Kafka on this machine: three KRaft nodes (each broker and controller) on loopback,
// topics with replication factor 3 and min.insync.replicas 2. The leader of the busiest partition
// is SIGKILLed under load, then a second node: acks=all keeps every acknowledged event, and with
// one replica left ingest may only answer 503. Both come back; every total is exact.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PUBLISH_TIMEOUT_MS = 3000;

/** The node id leading the partition of `topic` with the most records. */
async function leaderOfBusiest(brokers: string[], topic: string): Promise<{ partition: number; leader: number }> {
  const admin = new Kafka({ clientId: 'tl-test-cluster', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const busiest = offsets.reduce((a, b) => (BigInt(b.high) > BigInt(a.high) ? b : a));
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const p = topics[0]?.partitions.find((x) => x.partitionId === busiest.partition);
    if (p === undefined) throw new Error(`no metadata for partition ${busiest.partition}`);
    expect(p.replicas.length, 'replication factor').toBe(3);
    return { partition: busiest.partition, leader: p.leader };
  } finally {
    await admin.disconnect();
  }
}

describe('a three-node Kafka cluster, replication factor 3, min.insync.replicas 2', () => {
  it('loses no acknowledged event when the leader dies, answers only 503 with one replica left, and recovers exactly', { tags: ['slow'], timeout: 300_000 }, async ({ annotate }) => {
    const cluster = await startPrivateKafkaCluster(3);
    const world = await createFaultWorld({ brokers: cluster.brokers, adminDatabaseUrl: inject('adminDatabaseUrl'), durability: { replicationFactor: 3, minInsyncReplicas: 2 } });
    const ingest = await startIngest({ brokers: cluster.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: PUBLISH_TIMEOUT_MS });
    const consumer = spawnService('consumer', world.consumerEnv({ KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' }));
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 90_000 });
    expect(consumer.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('weaker than configured')), 'the topics are as configured').toEqual([]);
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]), { deadlineMs: 150_000 });
    await waitFor(() => traffic.batches() >= 15, { timeoutMs: 60_000, what: 'traffic flowing' });

    // 1. The leader of the busiest partition dies: two replicas remain in sync, writes go on.
    const { partition, leader } = await leaderOfBusiest(cluster.brokers, world.topic);
    const first = cluster.nodes[leader - 1];
    if (first === undefined) throw new Error(`no node ${leader}`);
    await first.kill();
    const afterFirst = traffic.batches();
    await waitFor(() => traffic.batches() >= afterFirst + 15, { timeoutMs: 60_000, what: 'traffic acknowledged by the two remaining nodes' });

    // 2. A second node dies: one replica left, below min.insync.replicas. Nothing may be acknowledged.
    const second = cluster.nodes.find((n) => n !== first);
    if (second === undefined) throw new Error('no second node');
    const killedAt = Date.now();
    await second.kill();
    await waitFor(() => traffic.answers.some((a) => a.atMs > killedAt && a.status === 503), { timeoutMs: 60_000, intervalMs: 50, what: 'ingest answering 503' });
    // A request sent before the kill may still be acknowledged within its publish timeout; after that, none.
    const quietFrom = killedAt + PUBLISH_TIMEOUT_MS + 1000;
    await sleep(Math.max(0, quietFrom - Date.now()) + 5000);
    const restartAt = Date.now();
    const down = traffic.answers.filter((a) => a.atMs >= quietFrom && a.atMs < restartAt);
    expect(down.length, 'requests were answered while one node was left').toBeGreaterThan(0);
    expect(down.filter((a) => a.status !== 503 && a.status !== 0), 'only 503 (or no answer) below min.insync.replicas').toEqual([]);

    // 3. Both come back: ingest acknowledges again, the consumer catches up, totals are exact.
    await Promise.all([first.start(), second.start()]);
    const stuck = traffic.batches();
    await waitFor(() => traffic.batches() >= stuck + 10, { timeoutMs: 120_000, what: 'ingest acknowledging again once the nodes are back' });
    const acked = await traffic.stop();
    await world.drained({ timeoutMs: 120_000 });
    await expectExactlyOnce(world.pool, acked);
    const refused = traffic.answers.filter((a) => a.status === 503).length;
    await annotate(`partition ${partition}'s leader (node ${leader}) killed, then another node; ${refused} answers 503 while below min ISR or electing; ${acked.length} events acknowledged, each counted once`);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
