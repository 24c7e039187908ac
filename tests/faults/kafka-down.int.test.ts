import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivateKafka } from '../helpers/faults/private-kafka.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 6: ingest while Kafka is down (stopped cleanly, started again later). A private broker.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ingest while Kafka is down', () => {
  it('answers 503 with Retry-After and never a 2xx, and nothing it answered 2xx is missing later', async ({ annotate }) => {
    const broker = await startPrivateKafka();
    const world = await createFaultWorld({ brokers: broker.brokers, adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: broker.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: 2000, retryAfterSeconds: 3 });
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`]));
    await waitFor(() => traffic.batches() >= 10, { timeoutMs: 30_000, what: 'traffic flowing' });

    await broker.stop();
    const downAt = Date.now();
    await sleep(6000);
    const restartAt = Date.now();
    await broker.start();
    const resumedFrom = traffic.batches();
    await waitFor(() => traffic.batches() >= resumedFrom + 10, { timeoutMs: 60_000, what: 'traffic acknowledged again' });

    const acked = await traffic.stop();
    const down = traffic.answers.filter((a) => a.atMs > downAt && a.atMs < restartAt);
    expect(down.length).toBeGreaterThanOrEqual(2);
    expect(down.filter((a) => a.status !== 503 || a.retryAfter !== '3')).toEqual([]);
    await world.drained({ timeoutMs: 90_000 });
    await expectExactlyOnce(world.pool, acked);
    await annotate(`${down.length} answers while Kafka was down, all 503 with Retry-After: 3; ${acked.length} events acknowledged in all`);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
