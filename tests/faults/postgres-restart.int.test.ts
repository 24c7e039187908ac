import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startPrivatePostgres } from '../helpers/faults/private-postgres.js';
import { msg, spawnService } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 2: Postgres stopped in immediate mode (every backend killed, no checkpoint) in the middle
// of a batch's transaction, then started again. A private server: the shared one is never stopped.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Postgres stopped in immediate mode mid-batch', () => {
  it('the consumer retries the batch without committing its offsets, then catches up exactly', async ({ annotate }) => {
    const server = await startPrivatePostgres();
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: server.url('postgres'), dropAfter: false });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    const traffic = startTraffic(ingest.post, new EventFactory([`ta-${uid()}`, `tb-${uid()}`, `tc-${uid()}`]));
    await consumer.waitForLog(msg('folded batch'));

    // Catch a batch inside its transaction: it has written its ledger rows and waits on this lock
    // to merge trace_sessions. That is the moment the server goes away.
    const locker = new pg.Client({ connectionString: world.databaseUrl, application_name: 'tl-fault-locker' });
    locker.on('error', () => undefined);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE trace_sessions IN SHARE MODE');
    await waitFor(
      async () => {
        const { rows } = await world.pool.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'traceledger-consumer' AND wait_event_type = 'Lock'`,
        );
        return Number(rows[0]?.n) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'a consumer transaction blocked mid-batch' },
    );
    const committedBefore = await world.kafka.groupOffsets(world.group, world.topic);
    await server.stopImmediate();
    await consumer.waitForLog(msg('database unavailable; retrying the batch, offsets not committed'), { timeoutMs: 15_000 });
    await sleep(2500);
    // While the database is down nothing is committed: the offsets have not moved.
    const committedDuring = await world.kafka.groupOffsets(world.group, world.topic);
    expect(committedDuring.map((p) => p.committed)).toEqual(committedBefore.map((p) => p.committed));
    await server.start();
    const back = await consumer.waitForLog(msg('database back; batch folded'), { timeoutMs: 30_000 });

    const acked = await traffic.stop();
    await world.drained({ timeoutMs: 45_000 });
    expect(consumer.running(), 'the consumer rode out the outage without exiting').toBe(true);
    await expectExactlyOnce(world.pool, acked);
    const retries = consumer.logs.filter(msg('database unavailable; retrying the batch, offsets not committed')).length;
    await annotate(`batch of partition ${String(back['partition'])} folded after ${String(back['attempts'])} attempts (${retries} retries logged); ${acked.length} events`);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });
});
