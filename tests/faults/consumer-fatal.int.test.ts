import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivateKafka } from '../helpers/faults/private-kafka.js';
import { msg, spawnService, type LogLine, type ServiceProcess } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic, type AckedEvent, type Poster } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure, type FaultWorld } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 7: a consumer that cannot go on must say so and exit non-zero, never sit alive and
// silent. Two ways to end: the fold fails in a way retrying cannot fix (crash for good), or the
// consumer shows no progress while records wait (the watchdog, CONSUMER_WATCHDOG_MS).
printProcessLogsOnFailure();
const fatal = (l: LogLine) => l.level === 60 && l.msg === 'consumer failed for good; exiting so a supervisor restarts it';
const errCode = (l: LogLine) => (l['err'] as { code?: string } | undefined)?.code;

async function postOnce(post: Poster, factory: EventFactory, acked: AckedEvent[]): Promise<void> {
  const { tenant, events } = factory.batch(10);
  const res = await post(tenant, events);
  expect(res.status, res.body).toBe(202);
  acked.push(...events.map((event) => ({ tenant, event })));
}

/** Restarts a healthy consumer and checks nothing acknowledged was lost meanwhile. */
async function recoverAndCheck(world: FaultWorld, acked: AckedEvent[]): Promise<void> {
  const consumer = spawnService('consumer', world.consumerEnv(), 'consumer-recovered');
  await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
  await world.drained({ timeoutMs: 60_000 });
  await expectExactlyOnce(world.pool, acked);
  consumer.signal('SIGTERM');
  expect((await consumer.exited).code).toBe(0);
}

async function exitWithin(proc: ServiceProcess, ms: number): Promise<{ code: number | null; afterMs: number }> {
  const from = Date.now();
  const exit = await Promise.race([proc.exited, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
  if (exit === null) throw new Error(`${proc.name} still running ${ms} ms later (hanging instead of exiting)\n${proc.tail(20)}`);
  return { code: exit.code, afterMs: exit.atMs - from };
}

describe('a consumer that cannot go on exits non-zero with a clear log line', () => {
  it('crashes for good when the database refuses the batch for a reason retrying cannot fix', async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const factory = new EventFactory([`ta-${uid()}`]);
    const acked: AckedEvent[] = [];
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    await postOnce(ingest.post, factory, acked);
    await consumer.waitForLog(msg('folded batch'));

    // The ledger table disappears under the running consumer (a botched migration): every fold
    // now fails with undefined_table, which no retry can fix.
    await world.pool.query('ALTER TABLE applied_events RENAME TO applied_events_moved');
    await postOnce(ingest.post, factory, acked);
    const exit = await exitWithin(consumer, 20_000);
    expect(exit.code).toBe(1);
    const line = consumer.logs.find(fatal);
    expect(line && errCode(line)).toBe('TL_CONSUMER_FOLD_FAILED');
    await annotate(`exited ${exit.code} ${exit.afterMs} ms after the bad batch: ${String((line?.['err'] as { message?: string } | undefined)?.message)}`);

    await world.pool.query('ALTER TABLE applied_events_moved RENAME TO applied_events');
    await recoverAndCheck(world, acked);
  });

  it('watchdog: a batch blocked in the database (a lock never released) ends the process after CONSUMER_WATCHDOG_MS', async ({ annotate }) => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const factory = new EventFactory([`ta-${uid()}`]);
    const acked: AckedEvent[] = [];
    const consumer = spawnService('consumer', world.consumerEnv({ CONSUMER_WATCHDOG_MS: '4000' }));
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    await postOnce(ingest.post, factory, acked);
    await consumer.waitForLog(msg('folded batch'));

    const locker = new pg.Client({ connectionString: world.databaseUrl, application_name: 'tl-fault-locker' });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE trace_sessions IN SHARE MODE');
    await postOnce(ingest.post, factory, acked);
    const exit = await exitWithin(consumer, 25_000);
    expect(exit.code).toBe(1);
    const line = consumer.logs.find(fatal);
    expect(line && errCode(line)).toBe('TL_CONSUMER_STALLED');
    await annotate(`exited ${exit.code} ${exit.afterMs} ms after the blocked batch: ${String((line?.['err'] as { message?: string } | undefined)?.message)}`);

    await locker.query('ROLLBACK');
    await locker.end();
    await recoverAndCheck(world, acked);
  });

  it('watchdog: a broker gone for good (consumer out of its group, lag unknown) ends the process', { tags: ['slow'] }, async ({ annotate }) => {
    const broker = await startPrivateKafka();
    const world = await createFaultWorld({ brokers: broker.brokers, adminDatabaseUrl: inject('adminDatabaseUrl') });
    const ingest = await startIngest({ brokers: broker.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: 2000 });
    const consumer = spawnService('consumer', world.consumerEnv({ CONSUMER_WATCHDOG_MS: '5000' }));
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`]));
    await waitFor(() => traffic.batches() >= 5, { timeoutMs: 30_000, what: 'traffic flowing' });
    await consumer.waitForLog(msg('folded batch'));

    await broker.kill();
    const exit = await exitWithin(consumer, 30_000);
    expect(exit.code).toBe(1);
    const line = consumer.logs.find(fatal);
    expect(line && errCode(line)).toBe('TL_CONSUMER_STALLED');
    await annotate(`exited ${exit.code} ${exit.afterMs} ms after the broker died: ${String((line?.['err'] as { message?: string } | undefined)?.message)}`);

    await broker.start();
    const acked = await traffic.stop();
    await recoverAndCheck(world, acked);
  });
});
