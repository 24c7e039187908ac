import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

/**
 * Provides a real Kafka broker and a real Postgres server to the int and e2e layers, picking in
 * order: KAFKA_BROKERS / DATABASE_URL from the environment; Docker via testcontainers; the
 * project's local broker script (scripts/kafka-local.sh) and the local Postgres server.
 * Each test file then makes its own world (topic, database) on top; see tests/helpers/world.ts.
 */

declare module 'vitest' {
  export interface ProvidedContext {
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
      await run('bash', [resolve(ROOT, 'scripts/kafka-local.sh'), 'start'], { timeout: 300_000 });
      const { stdout } = await run('bash', [resolve(ROOT, 'scripts/kafka-local.sh'), 'brokers']);
      brokers = [stdout.trim()];
      // The local broker is left running for the next run (scripts/kafka-local.sh stop ends it).
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

  project.provide('kafkaBrokers', brokers);
  project.provide('adminDatabaseUrl', adminUrl);
  return async () => {
    for (const t of teardowns.reverse()) await t();
  };
}
