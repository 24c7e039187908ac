import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startKafkaProxy } from '../helpers/faults/kafka-proxy.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure, topicRecords } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 5: the broker's answer to a write is lost after the write reached it. A loopback proxy
// between ingest's producer and the (shared) broker forwards the write, lets the broker append
// it, then drops the answer and cuts the connection. The producer retries: the topic holds those
// events twice. The table must count them once.
printProcessLogsOnFailure();

describe('a broker acknowledgement lost after the write reached the log', () => {
  it('the retried write leaves duplicates on the topic, and trace_sessions counts each event once', async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const proxy = await startKafkaProxy(world.brokers[0] as string);
    const ingest = await startIngest({ brokers: proxy.brokers, topic: world.topic, pool: world.pool });
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]));
    await waitFor(() => traffic.batches() >= 5, { timeoutMs: 30_000, what: 'traffic flowing' });
    expect(proxy.stats.rewrites, 'the producer was pointed back at the proxy').toBeGreaterThan(0);

    for (let i = 0; i < 4; i++) {
      proxy.dropProduceResponses(1);
      await waitFor(() => proxy.stats.droppedResponses === i + 1, { timeoutMs: 10_000, intervalMs: 20, what: `answer ${i + 1} dropped` });
      const from = traffic.batches();
      await waitFor(() => traffic.batches() >= from + 3, { timeoutMs: 30_000, what: 'traffic acknowledged again' });
    }
    const acked = await traffic.stop();

    // The fault took effect: the log holds more records than there are acknowledged events.
    const records = await topicRecords(world.kafka, world.group, world.topic);
    expect(records).toBeGreaterThan(acked.length);
    await world.drained({ timeoutMs: 45_000 });
    await expectExactlyOnce(world.pool, acked);
    const duplicatesSkipped = consumer.logs.filter(msg('folded batch')).reduce((n, l) => n + Number(l['duplicates'] ?? 0), 0);
    expect(duplicatesSkipped).toBe(records - acked.length);
    await annotate(`${proxy.stats.droppedResponses} answers dropped; ${records} records on the topic for ${acked.length} events; ${duplicatesSkipped} duplicates skipped by the ledger`);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
