import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { KeyStore, apiKeyAuthenticator } from '@traceledger/auth';
import { EventCodec, parseEvent } from '@traceledger/contract';
import { createPool, dropDatabase, migrate, type Pool } from '@traceledger/db';
import { buildIngestApp } from '@traceledger/ingest';
import { createKafka, type KafkaPort, type Publisher } from '@traceledger/kafka';
import { buildQueryApp } from '@traceledger/query';
import { ROOT, msg, spawnService, type ServiceProcess } from '../helpers/faults/processes.js';
import { SESSION_TIMEOUT_MS } from '../helpers/faults/world.js';
import { RUN_ENV } from '../helpers/run-processes.js';
import { testLogger, uid } from '../helpers/world.js';
import type { History } from './record.js';
import type { JsonEvent } from './scenario.js';

/** Steps that undo what a seed started, run last-in first-out whatever happened. */
export class Cleanup {
  private steps: { name: string; fn: () => unknown }[] = [];

  defer(name: string, fn: () => unknown): void {
    this.steps.push({ name, fn });
  }

  /** Runs every step (each within 20 s); returns the errors, never throws. */
  async run(): Promise<string[]> {
    const errors: string[] = [];
    const steps = this.steps.reverse();
    this.steps = [];
    for (const s of steps) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(s.fn),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('did not finish within 20 s')), 20_000))),
        ]);
      } catch (err) {
        errors.push(`${s.name}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return errors;
  }
}

/** One seed's world: its own database, topic, consumer group, price folder and work folder. */
export interface HistoryWorld {
  seed: number;
  databaseUrl: string;
  pool: Pool;
  brokers: string[];
  kafka: KafkaPort;
  topic: string;
  deadLetterTopic: string;
  group: string;
  /** PRICES_DIR of the consumers and the CLI (the price book of this seed only). */
  pricesDir: string;
  workDir: string;
  consumerEnv(extra?: Record<string, string>): Record<string, string>;
  cliEnv(): Record<string, string>;
}

export async function createHistoryWorld(seed: number, cleanup: Cleanup): Promise<HistoryWorld> {
  const runId = inject('runId');
  const id = `h${seed}-${uid(3)}`;
  const admin = new URL(inject('adminDatabaseUrl'));
  // Named like tests/helpers/world.ts does (tl_test_<run>_…), so the run's teardown finds leftovers.
  admin.pathname = `/tl_test_${runId}_${id.replace(/-/g, '_')}`;
  const databaseUrl = admin.toString();
  // TL_HISTORY_KEEP_DB=1 leaves the database behind for a post-mortem (its URL is in the report).
  if (process.env['TL_HISTORY_KEEP_DB'] !== '1') cleanup.defer('drop the database', () => dropDatabase(databaseUrl));
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, { max: 6, applicationName: 'traceledger-history' });
  pool.on('error', () => undefined);
  cleanup.defer('end the pool', () => pool.end());

  const brokers = inject('kafkaBrokers');
  const kafka = createKafka({ brokers, clientId: `tl-history-${id}`, logger: testLogger() });
  const topic = `tl-test-${runId}-${id}`;
  const deadLetterTopic = `${topic}.dlq`;
  const group = `tl-history-group-${id}`;
  cleanup.defer('delete the topics and the group', () => deleteTopicsAndGroup(brokers, [topic, deadLetterTopic], group));
  await kafka.ensureTopics([
    { topic, partitions: 3 },
    { topic: deadLetterTopic, partitions: 1 },
  ]);

  const workDir = mkdtempSync(join(tmpdir(), `tl-history-${seed}-`));
  cleanup.defer('remove the work folder', () => rm(workDir, { recursive: true, force: true }));
  const pricesDir = join(workDir, 'prices');
  mkdirSync(pricesDir);
  const common = { DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC: topic, KAFKA_TOPIC_PARTITIONS: '3', PRICES_DIR: pricesDir };
  return {
    seed,
    databaseUrl,
    pool,
    brokers,
    kafka,
    topic,
    deadLetterTopic,
    group,
    pricesDir,
    workDir,
    consumerEnv: (extra = {}) => ({
      ...common,
      KAFKA_CONSUMER_GROUP: group,
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      CONSUMER_WATCHDOG_MS: '0',
      SHUTDOWN_TIMEOUT_MS: '15000',
      ...extra,
    }),
    // RUN_ENV: a CLI process that outlived the run is one the run's teardown finds and kills.
    cliEnv: () => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', ...common, [RUN_ENV]: runId }),
  };
}

async function deleteTopicsAndGroup(brokers: string[], topics: string[], group: string): Promise<void> {
  const admin = new Kafka({ clientId: 'tl-history-cleanup', brokers, logLevel: logLevel.NOTHING, retry: { retries: 1 } }).admin();
  await admin.connect();
  try {
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.deleteTopics({ topics, timeout: 15_000 });
  } finally {
    await admin.disconnect();
  }
}

/** Grows a topic to `count` partitions (kafkajs admin createPartitions). */
export async function growPartitions(brokers: string[], topic: string, count: number): Promise<void> {
  const admin = new Kafka({ clientId: 'tl-history-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createPartitions({ topicPartitions: [{ topic, count }], validateOnly: false, timeout: 15_000 });
  } finally {
    await admin.disconnect();
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/traceledger --json …` with the world's environment; never throws. */
export function cli(world: HistoryWorld, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(join(ROOT, 'bin/traceledger'), ['--json', ...args], { cwd: ROOT, env: world.cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `cli`, throwing unless it exited 0; returns the JSON document it printed. */
export async function cliJson<T>(world: HistoryWorld, args: string[], timeoutMs?: number): Promise<T> {
  const r = await cli(world, args, timeoutMs);
  if (r.code !== 0) throw new Error(`traceledger ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-4).join(' | ')}`);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as T;
}

/** `npm run verify` for the world's database: exit code and output. */
export function verify(world: HistoryWorld): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'verify'], {
      cwd: ROOT,
      env: { ...world.cliEnv(), DATABASE_URL: world.databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** An ingest app of this process listening on a loopback port, publishing through `brokers`. */
export async function startIngestApp(options: { brokers: string[]; topic: string; pool: Pool; publishTimeoutMs: number; label: string }, cleanup: Cleanup): Promise<{ url: string }> {
  const logger = testLogger();
  const kafka = createKafka({ brokers: options.brokers, clientId: `tl-history-${options.label}`, logger });
  const publisher = kafka.publisher();
  await publisher.connect();
  cleanup.defer(`disconnect ${options.label}'s producer`, () => publisher.disconnect());
  const app = buildIngestApp(
    { publisher, codec: EventCodec.fromDirectory(), logger, pool: options.pool, auth: apiKeyAuthenticator(new KeyStore(options.pool)) },
    { topic: options.topic, maxBodyBytes: 1_048_576, maxBatchEvents: 10_000, retryAfterSeconds: 1, publishTimeoutMs: options.publishTimeoutMs },
  );
  cleanup.defer(`close ${options.label}`, () => app.close());
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address };
}

/** The query app (called through inject), with API keys. */
export async function startQueryApp(pool: Pool, cleanup: Cleanup): Promise<FastifyInstance> {
  const app = await buildQueryApp({ pool, logger: testLogger(), auth: apiKeyAuthenticator(new KeyStore(pool)) });
  cleanup.defer('close the query app', () => app.close());
  return app;
}

/**
 * Publishes records the way `backfill load` does (packages/cli/src/backfill.ts): contract-checked,
 * Avro single-object encoded, keyed by session, headers tl-tenant, tl-event-id and tl-backfill.
 * A publisher of its own each time, so it sees the topic's current partitions.
 */
export async function publishBackfillRecords(world: HistoryWorld, records: readonly { tenant: string; event: JsonEvent; backfillId: string }[]): Promise<number> {
  if (records.length === 0) return 0;
  const codec = EventCodec.fromDirectory();
  const publisher: Publisher = world.kafka.publisher();
  await publisher.connect();
  try {
    const now = Date.now();
    await publisher.publish(
      world.topic,
      records.map(({ tenant, event, backfillId }) => {
        const e = parseEvent(event as unknown, tenant, now);
        return { key: e.sessionId, value: codec.encode(e, now), headers: { 'tl-tenant': e.tenantId, 'tl-event-id': e.eventId, 'tl-backfill': backfillId } };
      }),
      15_000,
    );
  } finally {
    await publisher.disconnect();
  }
  return records.length;
}

/**
 * Publishes `records` like publishBackfillRecords, one record per send, `gapMs()` apart, over one
 * publisher: a stream of folds, one of which is likely to be in flight at any moment of an operation.
 */
export async function streamBackfillRecords(world: HistoryWorld, records: readonly { tenant: string; event: JsonEvent; backfillId: string }[], gapMs: () => number): Promise<number> {
  const codec = EventCodec.fromDirectory();
  const publisher: Publisher = world.kafka.publisher();
  await publisher.connect();
  try {
    for (const { tenant, event, backfillId } of records) {
      const now = Date.now();
      const e = parseEvent(event as unknown, tenant, now);
      await publisher.publish(world.topic, [{ key: e.sessionId, value: codec.encode(e, now), headers: { 'tl-tenant': e.tenantId, 'tl-event-id': e.eventId, 'tl-backfill': backfillId } }], 15_000);
      await new Promise((r) => setTimeout(r, gapMs()));
    }
  } finally {
    await publisher.disconnect();
  }
  return records.length;
}

/**
 * The consumer processes of a seed. A member that exits without being told to (a fatal error)
 * is restarted, as a supervisor would, at most three times; each such exit is a finding.
 */
export class Consumers {
  readonly procs = new Map<string, ServiceProcess>();
  readonly unexpectedExits: string[] = [];
  private planned = new Set<ServiceProcess>();
  private restarts = 0;
  private stopping = false;

  constructor(
    private readonly world: HistoryWorld,
    private readonly history: History,
  ) {}

  start(label: string, extra: Record<string, string> = {}): ServiceProcess {
    const proc = spawnService('consumer', this.world.consumerEnv(extra), label);
    this.procs.set(label, proc);
    this.history.note(`start ${label}`, `pid ${proc.pid}${Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : ''}`);
    void proc.waitForLog(msg('consumer running'), { timeoutMs: 60_000 }).then(
      () => this.history.note(`${label} running`),
      () => undefined,
    );
    void proc.exited.then(({ code, signal }) => {
      if (this.planned.has(proc) || this.stopping) return;
      const fatal = proc.logs.find((l) => l.level >= 50);
      const line = `${label} exited unexpectedly (${code ?? signal})${fatal ? `: ${String(fatal['msg'])} ${JSON.stringify((fatal['err'] as { code?: string; message?: string } | undefined)?.message ?? '')}` : ''}`;
      this.unexpectedExits.push(line);
      this.history.note(line);
      if (this.restarts < 3) {
        this.restarts += 1;
        this.start(`${label}+`, {});
      }
    });
    return proc;
  }

  /** Marks the member's next exit as intended (a SIGKILL by the test, or the crash hook it was started with). */
  expectExit(label: string): ServiceProcess {
    const proc = this.procs.get(label);
    if (proc === undefined) throw new Error(`no consumer ${label}`);
    this.planned.add(proc);
    return proc;
  }

  running(): ServiceProcess[] {
    return [...this.procs.values()].filter((p) => p.running());
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    const live = this.running();
    for (const p of live) p.signal('SIGTERM');
    await Promise.all(
      live.map(async (p) => {
        const timer = setTimeout(() => p.signal('SIGKILL'), 20_000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Warnings and errors of every member, for a failure report. */
  logTail(lines = 8): string {
    return [...this.procs.entries()]
      .map(([label, p]) => {
        const bad = p.logs.filter((l) => l.level >= 40).slice(-lines);
        return `  --- ${label} (pid ${p.pid}): ${p.logs.length} log lines, ${bad.length} warn/error shown ---\n${bad.map((l) => `    ${JSON.stringify(l).slice(0, 400)}`).join('\n')}`;
      })
      .join('\n');
  }
}
