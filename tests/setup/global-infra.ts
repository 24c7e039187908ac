import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { waitGone } from '../helpers/run-processes.js';
import { describeSurvivors, findSurvivors, stopSurvivors } from './survivors.js';

/**
 * Provides a real Kafka broker and a real Postgres server to the int and e2e layers, picking in
 * order: KAFKA_BROKERS / DATABASE_URL from the environment; Docker via testcontainers; the
 * project's local broker script (scripts/kafka-local.sh) and the local Postgres server.
 * Each test file then makes its own world (topic, database) on top; see tests/helpers/world.ts.
 * The teardown removes what the run left behind and fails the run if any process it started
 * (a private broker or Postgres, a service process) is still alive; see leftoverProcesses below.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** Names every database and topic this run creates, so teardown removes exactly those. */
    runId: string;
    kafkaBrokers: string[];
    /** A connection string to a server where tests may create and drop databases. */
    adminDatabaseUrl: string;
  }
}

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

async function dockerAvailable(): Promise<boolean> {
  if (process.env['TRACELEDGER_NO_DOCKER'] === '1') return false;
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Drops the databases and deletes the topics of this run that a test file did not remove itself
 * (a file that failed half-way, a fault test whose server refused the drop), so repeated runs on a
 * long-lived machine do not pile them up. Only names carrying this run's id are touched.
 */
async function removeRunLeftovers(runId: string, brokers: string[], adminDatabaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminDatabaseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'tl\\_test\\_' || $1 || '\\_%' OR datname LIKE 'tl\\_fault\\_' || $1 || '\\_%'",
      [runId],
    );
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`).catch(() => undefined);
  } catch {
    // The server is gone: nothing to clean.
  } finally {
    await client.end().catch(() => undefined);
  }
  const kafka = new Kafka({ clientId: `tl-cleanup-${runId}`, brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const mine = (await admin.listTopics()).filter((t) => t.includes(`-${runId}-`));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  } catch {
    // The broker is gone: nothing to clean.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Every test helper stops what it started when its test (or file) ends; see
 * tests/helpers/cleanup.ts. This checks that they did: any process of this run still alive now
 * (found in /proc by the run id in its command line or environment; tests/setup/survivors.ts)
 * is killed, its temp dir deleted, and listed in the returned message. A process that is on its
 * way out (SIGKILLed a moment ago) gets 2 s to go first.
 */
async function leftoverProcesses(runId: string): Promise<string | null> {
  let survivors = await findSurvivors(runId);
  if (survivors.length === 0) return null;
  await waitGone(survivors.map((s) => s.pid), 2000);
  survivors = await findSurvivors(runId);
  if (survivors.length === 0) return null;
  const stillAlive = await stopSurvivors(survivors);
  return describeSurvivors(runId, survivors, stillAlive);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const teardowns: (() => Promise<unknown>)[] = [];
  let brokers = process.env['KAFKA_BROKERS']?.split(',').map((s) => s.trim()).filter(Boolean);
  let adminUrl = process.env['DATABASE_URL'];
  const useDocker = (!brokers || !adminUrl) && (await dockerAvailable());

  if (!brokers) {
    if (useDocker) {
      const { KafkaContainer } = await import('@testcontainers/kafka');
      // testcontainers' Kafka module drives Confluent's image (Apache Kafka 3.8 inside), in KRaft mode.
      const kafka = await new KafkaContainer('confluentinc/cp-kafka:7.8.0').withKraft().start();
      teardowns.push(() => kafka.stop());
      brokers = [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`];
    } else {
      const script = resolve(ROOT, 'scripts/kafka-local.sh');
      const wasRunning = await run('bash', [script, 'status']).then(() => true, () => false);
      await run('bash', [script, 'start'], { timeout: 300_000 });
      const { stdout } = await run('bash', [script, 'brokers']);
      brokers = [stdout.trim()];
      // Tests stop what they start: a broker this run started is stopped at its end; one that was
      // already running (`npm run kafka:start`, .ci/run) is left as it was found.
      if (!wasRunning) teardowns.push(() => run('bash', [script, 'stop'], { timeout: 60_000 }));
    }
  }
  if (!adminUrl) {
    if (useDocker) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const pg = await new PostgreSqlContainer('postgres:15').start();
      teardowns.push(() => pg.stop());
      adminUrl = pg.getConnectionUri();
    } else {
      adminUrl = LOCAL_POSTGRES;
    }
  }

  const runId = randomBytes(3).toString('hex');
  project.provide('runId', runId);
  project.provide('kafkaBrokers', brokers);
  project.provide('adminDatabaseUrl', adminUrl);
  const [kafkaBrokers, adminDatabaseUrl] = [brokers, adminUrl];
  return async () => {
    await removeRunLeftovers(runId, kafkaBrokers, adminDatabaseUrl);
    const leaked = await leftoverProcesses(runId);
    for (const t of teardowns.reverse()) await t();
    if (leaked !== null) {
      process.stderr.write(`\n${leaked}\n\n`);
      // vitest 4.1 logs an error thrown here ("error during close") but still exits 0 when every
      // test passed, so the exit code is set as well.
      process.exitCode = 1;
      throw new Error(`test run ${runId} left processes running (listed above); they were killed and the run fails`);
    }
  };
}
