import { afterEach, inject } from 'vitest';
import { createPool, migrate, type Pool } from '@traceledger/db';
import { createKafka, type KafkaPort, type TopicDurability } from '@traceledger/kafka';
import { registerCleanup } from '../cleanup.js';
import { testLogger, uid, waitFor } from '../world.js';
import { spawnedProcesses } from './processes.js';

/** One fault test's world: its own database and topic on the given servers, and a consumer group name. */
export interface FaultWorld {
  brokers: string[];
  kafka: KafkaPort;
  topic: string;
  group: string;
  databaseUrl: string;
  pool: Pool;
  /** The environment of a consumer process of this world (fault settings on top). */
  consumerEnv(extra?: Record<string, string>): Record<string, string>;
  /** Waits until the group has committed every record of the topic. */
  drained(options?: { timeoutMs?: number }): Promise<void>;
}

/** Session timeout of the test consumers: the broker's minimum (group.min.session.timeout.ms). */
export const SESSION_TIMEOUT_MS = 6000;

/**
 * Makes a fresh database (migrated) on the Postgres server at `adminDatabaseUrl` and a fresh
 * topic on `brokers`. Its pool is closed after the test (or the file, when called outside a test;
 * see ../cleanup.ts). The database itself is dropped by the run's teardown, which drops every
 * tl_fault_<run id>_* database (tests/setup/global-infra.ts), not here: DROP DATABASE forces a
 * checkpoint of the whole shared server, and one in the middle of the run upsets the timing of the
 * fault test that runs next (consumer-kill's crash-hook test then often misses the log line the
 * hook writes just before its SIGKILL). A private server is deleted whole, so `dropAfter` changes
 * nothing any more; it stays for callers that pass it.
 */
export async function createFaultWorld(options: { brokers: string[]; adminDatabaseUrl: string; partitions?: number; dropAfter?: boolean; durability?: TopicDurability }): Promise<FaultWorld> {
  const id = uid();
  const url = new URL(options.adminDatabaseUrl);
  url.pathname = `/tl_fault_${inject('runId')}_${id}`;
  const databaseUrl = url.toString();
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, { max: 4, applicationName: 'traceledger-fault-test' });
  pool.on('error', () => undefined);
  registerCleanup(() => pool.end().catch(() => undefined));
  const kafka = createKafka({ brokers: options.brokers, clientId: `tl-fault-${id}`, logger: testLogger(), ...(options.durability === undefined ? {} : { durability: options.durability }) });
  const topic = `tl-fault-${inject('runId')}-${id}`;
  const partitions = options.partitions ?? 3;
  await kafka.ensureTopics([
    { topic, partitions },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const group = `tl-fault-group-${id}`;
  return {
    brokers: options.brokers,
    kafka,
    topic,
    group,
    databaseUrl,
    pool,
    consumerEnv: (extra = {}) => ({
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: options.brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_TOPIC_PARTITIONS: String(partitions),
      KAFKA_CONSUMER_GROUP: group,
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      CONSUMER_WATCHDOG_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '20000',
      ...extra,
    }),
    async drained({ timeoutMs = 60_000 } = {}) {
      await waitFor(async () => (await kafka.consumerLag(group, topic)) === 0, { timeoutMs, intervalMs: 250, what: `group ${group} to commit all of ${topic}` });
    },
  };
}

/**
 * After a failed test (or every test, with FAULT_LOGS=1), prints the last log lines of every
 * process the file started.
 */
export function printProcessLogsOnFailure(): void {
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' && process.env['FAULT_LOGS'] !== '1') return;
    for (const p of spawnedProcesses()) {
      process.stderr.write(`\n--- ${p.name} (pid ${p.pid}) ---\n${p.tail(60)}\n`);
    }
  });
}

/** Records on the topic, duplicates included (sum of the partitions' ends; nothing is ever deleted). */
export async function topicRecords(kafka: KafkaPort, group: string, topic: string): Promise<number> {
  const partitions = await kafka.groupOffsets(group, topic);
  return Number(partitions.reduce((n, p) => n + p.end, 0n));
}
