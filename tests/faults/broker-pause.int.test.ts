import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivateKafka } from '../helpers/faults/private-kafka.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { SESSION_TIMEOUT_MS, createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 1b: the broker is frozen (SIGSTOP) for longer than the consumer's session timeout, then
// thawed (SIGCONT). Nothing closes a connection: requests just hang, and when the broker wakes
// up it finds the consumer's session expired. A private broker: the shared one is never paused.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the broker paused longer than the session timeout', () => {
  it('SIGSTOP then SIGCONT: producers get 503 meanwhile, the consumer resumes (rejoining if expelled), and the totals are exact', { tags: ['slow'] }, async ({ annotate }) => {
    const broker = await startPrivateKafka();
    const world = await createFaultWorld({ brokers: broker.brokers, adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: broker.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: 3000 });
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]));
    await waitFor(() => traffic.batches() >= 15, { timeoutMs: 30_000, what: 'traffic flowing' });
    await consumer.waitForLog(msg('folded batch'));

    const joinsBefore = consumer.logs.filter(msg('joined the consumer group')).length;
    broker.pause();
    const pausedAt = Date.now();
    await sleep(SESSION_TIMEOUT_MS + 3000);
    broker.resume();
    const resumedAt = Date.now();
    const resumedFrom = traffic.batches();
    await waitFor(() => traffic.batches() >= resumedFrom + 15, { timeoutMs: 60_000, what: 'traffic acknowledged again after SIGCONT' });

    const acked = await traffic.stop();
    await world.drained({ timeoutMs: 90_000 });
    // The pause was real: answers while frozen were 503s, and the consumer had to rejoin.
    const frozen = traffic.answers.filter((a) => a.atMs > pausedAt + 3500 && a.atMs < resumedAt);
    expect(frozen.length).toBeGreaterThan(0);
    expect(frozen.filter((a) => a.status !== 503 || a.retryAfter === undefined)).toEqual([]);
    // Whether the coordinator expired the session on waking (usually) or first read the heartbeat
    // queued in its socket (sometimes) is the broker's race; either way the totals must hold.
    const rejoined = consumer.logs.filter(msg('joined the consumer group')).length > joinsBefore;
    await annotate(`consumer ${rejoined ? 'expelled on waking and rejoined' : 'kept its membership'}; ${frozen.length} answers while frozen, all 503`);
    expect(consumer.running(), 'the consumer rode out the pause').toBe(true);
    await expectExactlyOnce(world.pool, acked);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
