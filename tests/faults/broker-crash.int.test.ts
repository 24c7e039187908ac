import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivateKafka } from '../helpers/faults/private-kafka.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 1a: the broker is SIGKILLed mid-stream and restarted on the same data directory.
// A private broker: the shared one is never killed.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the broker SIGKILLed mid-stream', () => {
  it('restarted on the same data: the producer gets 503 meanwhile, the consumer resumes, and the totals are exact', { tags: ['slow'] }, async () => {
    const broker = await startPrivateKafka();
    const world = await createFaultWorld({ brokers: broker.brokers, adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: broker.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: 3000 });
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]));
    await waitFor(() => traffic.batches() >= 15, { timeoutMs: 30_000, what: 'traffic flowing' });
    await consumer.waitForLog(msg('folded batch'));

    await broker.kill();
    const downAt = Date.now();
    await sleep(4000);
    const restartAt = Date.now();
    await broker.start();
    const resumedFrom = traffic.batches();
    await waitFor(() => traffic.batches() >= resumedFrom + 15, { timeoutMs: 60_000, what: 'traffic acknowledged again after the restart' });

    const acked = await traffic.stop();
    await world.drained({ timeoutMs: 90_000 });
    // The outage was real, and nothing was acknowledged while the broker was dead.
    const during = traffic.answers.filter((a) => a.atMs > downAt + 200 && a.atMs < restartAt);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((a) => a.status !== 503 || a.retryAfter === undefined)).toEqual([]);
    expect(consumer.running(), 'the consumer rode out the broker crash').toBe(true);
    await expectExactlyOnce(world.pool, acked);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
