import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { DEFAULT_TENANT } from '@traceledger/core';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { startKafkaProxy } from '../helpers/faults/kafka-proxy.js';
import { freePort } from '../helpers/faults/ports.js';
import { msg, spawnService, type LogLine, type ServiceProcess } from '../helpers/faults/processes.js';
import { EventFactory, type AckedEvent } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure, type FaultWorld } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// Fault 8: SIGTERM on each service while it has work in hand. A service drains: it answers what
// it accepted, commits the batch it holds, and exits 0. The work is held in flight by a real
// obstacle (a slow broker behind a proxy, a table lock), released only after the signal.
printProcessLogsOnFailure();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');

/** Holds a lock on trace_sessions in an open transaction until released. */
async function lockSessions(world: FaultWorld, mode: 'SHARE' | 'ACCESS EXCLUSIVE'): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: world.databaseUrl, application_name: 'tl-fault-locker' });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE trace_sessions IN ${mode} MODE`);
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/**
 * The exit of a drained process, which must come soon after its last answer: a server that waits
 * for idle keep-alive connections to time out (Fastify's default is 72 s) outlives any
 * orchestrator's grace period and gets SIGKILLed.
 */
async function exitsSoon(proc: ServiceProcess, withinMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timeout = sleep(withinMs).then(() => null);
  const exit = await Promise.race([proc.exited, timeout]);
  if (exit === null) throw new Error(`${proc.name} answered everything but had not exited ${withinMs} ms later`);
  return exit;
}

/** Waits until `n` connections of `application` wait on a lock. */
async function blockedOnLock(world: FaultWorld, application: string, n = 1): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await world.pool.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`,
        [application],
      );
      return Number(rows[0]?.n) >= n;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: `${n} ${application} connection(s) waiting on the lock` },
  );
}

describe('SIGTERM drains each service and exits 0', () => {
  it('ingest: requests waiting on Kafka are answered 202 and their events are all in the topic', async () => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const [upstream] = world.brokers;
    const proxy = await startKafkaProxy(upstream as string);
    const port = await freePort();
    const ingest = spawnService('ingest', {
      KAFKA_BROKERS: proxy.brokers.join(','),
      KAFKA_TOPIC: world.topic,
      DATABASE_URL: world.databaseUrl,
      AUTH_MODE: 'none',
      INGEST_PORT: String(port),
    });
    await ingest.waitForLog(listening, { timeoutMs: 45_000, what: 'listening' });

    // The broker answers each write 2 s late: every request below is in flight when SIGTERM comes.
    proxy.delayProduceResponses(2000);
    const factory = new EventFactory([DEFAULT_TENANT]);
    const batches = Array.from({ length: 8 }, () => factory.batch(10).events);
    const before = proxy.stats.produceRequests;
    const answers = batches.map((events) =>
      fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) }),
    );
    await waitFor(() => proxy.stats.produceRequests - before >= batches.length, { timeoutMs: 15_000, intervalMs: 20, what: 'every request to wait on Kafka' });
    ingest.signal('SIGTERM');
    await ingest.waitForLog(msg('shutting down'));

    const statuses = await Promise.all(answers.map(async (a) => (await a).status));
    expect(statuses).toEqual(batches.map(() => 202));
    expect((await exitsSoon(ingest)).code).toBe(0);

    // Everything acknowledged before the exit reaches trace_sessions.
    const acked: AckedEvent[] = batches.flat().map((event) => ({ tenant: DEFAULT_TENANT, event }));
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    await world.drained({ timeoutMs: 45_000 });
    await expectExactlyOnce(world.pool, acked);
    consumer.signal('SIGTERM');
    expect((await consumer.exited).code).toBe(0);
  });

  it('consumer: the batch blocked in the database finishes, its offset is committed, then it leaves the group', async () => {
    // One partition: the batch in hand is the whole of the second post, so "committed" means lag 0.
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl'), partitions: 1 });
    const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });
    const factory = new EventFactory([`ta-${uid()}`, `tb-${uid()}`]);
    const acked: AckedEvent[] = [];
    const post = async () => {
      const { tenant, events } = factory.batch(20);
      const res = await ingest.post(tenant, events);
      expect(res.status, res.body).toBe(202);
      acked.push(...events.map((event) => ({ tenant, event })));
    };
    const consumer = spawnService('consumer', world.consumerEnv());
    await consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 });
    await post();
    await consumer.waitForLog(msg('folded batch'));

    const lock = await lockSessions(world, 'SHARE');
    await post();
    await blockedOnLock(world, 'traceledger-consumer');
    consumer.signal('SIGTERM');
    await consumer.waitForLog(msg('shutting down: finishing the batch in hand and committing it'));
    await sleep(1000);
    expect(consumer.running(), 'it waits for the batch in hand').toBe(true);
    await lock.release();

    expect((await exitsSoon(consumer)).code).toBe(0);
    expect(consumer.logs.filter(msg('folded batch'))).toHaveLength(2);
    expect(await world.kafka.groupOffsets(world.group, world.topic)).toEqual([{ partition: 0, committed: 40n, end: 40n }]);
    await expectExactlyOnce(world.pool, acked);
  });

  it('query: requests blocked in the database are answered 200, then it exits', async () => {
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: inject('adminDatabaseUrl') });
    const port = await freePort();
    const query = spawnService('query', { DATABASE_URL: world.databaseUrl, AUTH_MODE: 'none', QUERY_PORT: String(port) });
    await query.waitForLog(listening, { timeoutMs: 45_000, what: 'listening' });

    const lock = await lockSessions(world, 'ACCESS EXCLUSIVE');
    const answers = Array.from({ length: 5 }, () => fetch(`http://127.0.0.1:${port}/api/billing/summary?period=all`));
    await blockedOnLock(world, 'traceledger-query', 5);
    query.signal('SIGTERM');
    await query.waitForLog(msg('shutting down'));
    await sleep(500);
    expect(query.running(), 'it waits for the requests in hand').toBe(true);
    await lock.release();

    const responses = await Promise.all(answers);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await responses[0]?.json()).toMatchObject({ totalCost: 0 });
    expect((await exitsSoon(query)).code).toBe(0);
  });
});
