/**
 * What the benchmarks that run traceledger's own services share: realistic event batches, a world
 * of the benchmark's own (a migrated database, a topic with its dead-letter topic, a consumer group
 * name) that is removed afterwards, and the services as their own Node processes, started the way
 * the tests start them (tests/helpers/faults/processes.ts): the real `main.ts`, a minimal
 * environment that names every setting, and `node` itself as the process (no npm or sh wrapper, so
 * its pid is the service's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TraceLedgerError } from '@traceledger/core';
import { dropDatabase, migrate } from '@traceledger/db';
import { createKafka, type KafkaPort } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { ROOT, exec } from './report.js';

/**
 * Realistic events as compact JSON (~250 bytes each): ~10 per session (a start, usage, tool calls,
 * an end), 50 agents, 7 teams, unique ids `e-<runId>-<n>` numbered by `seq`, which they advance.
 */
export function realisticEvents(runId: string, seq: { n: number }, size: number): string[] {
  const now = Date.now();
  const parts: string[] = [];
  for (let i = 0; i < size; i++) {
    const n = seq.n++;
    const session = `s-${runId}-${Math.floor(n / 10)}`;
    const at = new Date(now - 60_000 + (n % 1000)).toISOString();
    const head = `"event_id":"e-${runId}-${n}","session_id":"${session}","agent_id":"agent-${n % 50}","team_id":"team-${n % 7}","occurred_at":"${at}"`;
    const k = n % 10;
    if (k === 0) parts.push(`{${head},"type":"session.started"}`);
    else if (k === 9) parts.push(`{${head},"type":"session.ended","status":"success"}`);
    else if (k % 3 === 0) parts.push(`{${head},"type":"tool.call","tool_name":"web_search","duration_ms":${(n * 37) % 2000}}`);
    else parts.push(`{${head},"type":"llm.usage","provider":"openai","model":"gpt-4o-mini","input_tokens":${800 + (n % 4000)},"output_tokens":${50 + (n % 700)},"cost":"0.000${String(100_000 + (n % 900_000))}"}`);
  }
  return parts;
}

/** A `POST /v1/events` body of `size` realistic events (see realisticEvents). */
export function batchBody(runId: string, seq: { n: number }, size: number): string {
  return `{"events":[${realisticEvents(runId, seq, size).join(',')}]}`;
}

/** A benchmark's own database, topics and consumer group on the shared servers. */
export interface BenchWorld {
  /** Random, in every name below. */
  id: string;
  databaseUrl: string;
  brokers: string[];
  kafka: KafkaPort;
  topic: string;
  deadLetterTopic: string;
  group: string;
  /** Deletes the topics and the group and drops the database; each step is tried, errors are returned. */
  remove(): Promise<string[]>;
}

/**
 * Makes `tl_bench_<bench>_<id>` (migrated) on DATABASE_URL's server (default the local one), and
 * `tl-bench-<bench>-<id>` with 3 partitions (or `partitions`), its `.dlq` and `extraTopics` (3 partitions each) on
 * KAFKA_BROKERS (default: the local broker, started if it is not running). Whatever was made is
 * removed again when a step fails.
 */
export async function createBenchWorld(bench: string, options: { extraTopics?: (topic: string) => string[]; partitions?: number } = {}): Promise<BenchWorld> {
  if (!process.env['KAFKA_BROKERS']) await exec('bash', [join(ROOT, 'scripts/kafka-local.sh'), 'start']);
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const id = randomBytes(4).toString('hex');
  const url = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/tl_bench_${bench}_${id}`;
  const databaseUrl = url.toString();
  const topic = `tl-bench-${bench}-${id}`;
  const deadLetterTopic = `${topic}.dlq`;
  const extra = options.extraTopics?.(topic) ?? [];
  const group = `tl-bench-${bench}-group-${id}`;
  const kafka = createKafka({ brokers, clientId: `tl-bench-${bench}`, logger: createLogger({ service: `bench-${bench}`, level: 'warn', destination: process.stderr }) });
  const world: BenchWorld = {
    id,
    databaseUrl,
    brokers,
    kafka,
    topic,
    deadLetterTopic,
    group,
    async remove() {
      const errors: string[] = [];
      const admin = new Kafka({ clientId: `tl-bench-${bench}-cleanup`, brokers, logLevel: logLevel.NOTHING }).admin();
      try {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const topics = [topic, deadLetterTopic, ...extra].filter((t) => existing.has(t));
        if (topics.length > 0) await admin.deleteTopics({ topics });
      } catch (err) {
        errors.push(`topics ${[topic, deadLetterTopic, ...extra].join(', ')}: ${(err as Error).message}`);
      }
      await deleteGroup(admin, group).catch((err: unknown) => errors.push(`group ${group}: ${(err as Error).message}`));
      await admin.disconnect().catch(() => undefined);
      await dropDatabase(databaseUrl).catch((err: unknown) => errors.push(`database ${url.pathname.slice(1)}: ${(err as Error).message}`));
      return errors;
    },
  };
  try {
    await migrate(databaseUrl);
    await kafka.ensureTopics([
      { topic, partitions: options.partitions ?? 3 },
      { topic: deadLetterTopic, partitions: 1 },
      ...extra.map((t) => ({ topic: t, partitions: 3 })),
    ]);
  } catch (err) {
    await world.remove();
    throw err;
  }
  return world;
}

/**
 * Deletes a consumer group once it is empty. A member that stopped without leaving (killed while it
 * joined) stays in the group until its session times out (30 s by default), so a non-empty group
 * is tried again for up to `timeoutMs`.
 */
async function deleteGroup(admin: Admin, group: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await admin.listGroups()).groups.some((g) => g.groupId === group)) return;
    try {
      await admin.deleteGroups([group]);
      return;
    } catch (err) {
      const type = (err as { groups?: { error?: { type?: string } }[] }).groups?.[0]?.error?.type;
      if (type === 'GROUP_ID_NOT_FOUND') return;
      if (type !== 'NON_EMPTY_GROUP' || Date.now() > deadline) throw new Error(`${(err as Error).message}${type === undefined ? '' : ` (${type})`}`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** One traceledger service running as its own process. */
export interface BenchService {
  readonly name: 'ingest' | 'consumer' | 'query';
  /** The pid of the `node` process that runs the service's main.ts. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (its output read to the end). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** The last lines it wrote (stdout and stderr), for a failure message. */
  tail(lines?: number): string;
  /** SIGTERM (the service drains), SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 60;

/**
 * Starts `node --import tsx services/<name>/src/main.ts` with `env` over a minimal environment
 * (PATH, HOME, LOG_LEVEL=warn, MIGRATE_ON_START=false): nothing leaks in from the shell.
 */
export function startService(name: BenchService['name'], env: Record<string, string>): BenchService {
  const child = spawn(process.execPath, ['--import', 'tsx', `services/${name}/src/main.ts`], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `could not start ${name}`);
  const lines: string[] = [];
  const keep = (prefix: string) => {
    let partial = '';
    return (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) if (l.trim() !== '') lines.push(`${prefix}${l}`);
      if (lines.length > 2 * TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
    };
  };
  child.stdout?.setEncoding('utf8').on('data', keep(''));
  child.stderr?.setEncoding('utf8').on('data', keep('[stderr] '));
  let done = false;
  // 'close', not 'exit': the output is read to the end by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const pid = child.pid;
  // Should this process exit without stopping it (a crash), the service does not outlive it.
  const killOnExit = () => {
    if (!done) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  return {
    name,
    pid,
    child,
    exited,
    running: () => !done,
    tail: (n = 30) => lines.slice(-n).join('\n'),
    async stop(graceMs = 20_000) {
      if (done) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
      if ((await Promise.race([exited, late])) === 'late' && !done) {
        process.stderr.write(`bench: ${name} (pid ${pid}) did not stop within ${graceMs} ms of SIGTERM; SIGKILL\n`);
        child.kill('SIGKILL');
      }
      clearTimeout(timer);
      await exited;
    },
  };
}

/** Waits until `url` answers 200, for at most `timeoutMs`; `stillUp` false ends the wait early. */
export async function waitReady(url: string, what: string, options: { timeoutMs?: number; stillUp?: () => boolean; signal?: AbortSignal } = {}): Promise<void> {
  const { timeoutMs = 60_000, stillUp = () => true, signal } = options;
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && stillUp()) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  signal?.throwIfAborted();
  throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `${what} did not become ready at ${url} within ${timeoutMs} ms`);
}
