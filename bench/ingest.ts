/**
 * Ingest throughput beside the limit of the same broker, measured in the same run:
 *
 *   npm run bench -- --only ingest [--seconds 10] [--runs 3] [--concurrency 8]
 *
 * traceledger: events/s acknowledged by `POST /v1/events` (202 = every event on the topic with
 * acks=all), the ingest service running as its own process with no consumer, rate limits off, an
 * independent load generator (this process) keeping `concurrency` requests in flight with batches of
 * 100, 500 and 1000 realistic events (~250 bytes of JSON each, unique ids, ~10 events per session).
 * Limit: Kafka's own `org.apache.kafka.tools.ProducerPerformance` (the kafka-tools artifact, fetched
 * by scripts/kafka-local.sh) with acks=all and the average size of the Avro records ingest wrote,
 * on the same broker. Medians of `runs` runs, with min–max. Writes bench/results/latest.json (its
 * `ingest` key) and appends a dated row to docs/benchmarks.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventCodec, eventRecord, parseEvent } from '@traceledger/contract';
import { TraceLedgerError } from '@traceledger/core';
import { migrate } from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { ROOT, appendHistory, cell, exec, fmt, kafkaToolsClasspath, machine, ratio, recordLatest, stat, type Stat } from './report.js';

const { Client } = pg;

export const name = 'ingest';
export const summary = 'ingest events/s over HTTP (no consumer) beside Kafka ProducerPerformance with acks=all on the same broker';

const BATCH_SIZES = [100, 500, 1000] as const;

/** Batches of realistic events: ~10 per session (a start, usage, tool calls, an end), unique ids. */
function batchBody(runId: string, seq: { n: number }, size: number): string {
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
  return `{"events":[${parts.join(',')}]}`;
}

/**
 * The average size of the Kafka records ingest writes for such events (value, key and headers), in
 * bytes: ProducerPerformance writes values of this size with no key or header, the same bytes per record.
 */
function averageRecordBytes(runId: string): { recordBytes: number; jsonBytes: number } {
  const codec = EventCodec.fromDirectory();
  const body = JSON.parse(batchBody(`${runId}-size`, { n: 0 }, 1000)) as { events: unknown[] };
  let record = 0;
  let json = 0;
  for (const raw of body.events) {
    const event = parseEvent(raw, 'bench-tenant', Date.now(), 32_768);
    const m = eventRecord(codec, event, Date.now());
    record += m.value.length + Buffer.byteLength(m.key ?? '');
    for (const [k, v] of Object.entries(m.headers ?? {})) record += Buffer.byteLength(k) + Buffer.byteLength(v);
    json += Buffer.byteLength(JSON.stringify(raw));
  }
  return { recordBytes: Math.round(record / body.events.length), jsonBytes: Math.round(json / body.events.length) };
}

/** Keeps `concurrency` requests in flight for `seconds`; returns events/s acknowledged (202). */
async function load(url: string, runId: string, size: number, seconds: number, concurrency: number): Promise<number> {
  const seq = { n: 0 };
  let accepted = 0;
  let failures = 0;
  const until = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batchBody(runId, seq, size) });
      await res.arrayBuffer();
      if (res.status === 202) accepted += size;
      else failures += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  if (failures > 0) process.stderr.write(`bench ingest: ${failures} requests were not answered 202\n`);
  return accepted / elapsed;
}

async function producerPerformance(brokers: string, topic: string, recordBytes: number, records: number): Promise<number> {
  const cp = await kafkaToolsClasspath();
  const { stdout } = await exec(
    'java',
    ['-Xmx512m', '-cp', cp, 'org.apache.kafka.tools.ProducerPerformance', '--topic', topic, '--num-records', String(records), '--record-size', String(recordBytes), '--throughput', '-1', '--producer-props', `bootstrap.servers=${brokers}`, 'acks=all'],
    { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const last = stdout.trim().split('\n').filter((l) => / records sent, /.test(l)).pop() ?? '';
  const m = /([\d.]+) records\/sec/.exec(last);
  if (m === null) throw new TraceLedgerError('TL_BENCH_LIMIT_FAILED', `ProducerPerformance printed no total: ${stdout.slice(-500)}`);
  return Number(m[1]);
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `ingest did not become ready at ${url}`);
}

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({ args: argv, options: { seconds: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' } }, strict: false });
  const seconds = Number(values.seconds);
  const runs = Number(values.runs);
  const concurrency = Number(values.concurrency);
  if (!(seconds > 0) || !Number.isInteger(runs) || runs < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--seconds must be positive, --runs and --concurrency whole numbers >= 1');
  }
  const id = randomBytes(4).toString('hex');
  const say = (s: string) => process.stderr.write(`bench ingest: ${s}\n`);
  if (!process.env['KAFKA_BROKERS']) await exec('bash', [join(ROOT, 'scripts/kafka-local.sh'), 'start']);
  const brokers = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';
  const base = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  base.pathname = `/tl_bench_ingest_${id}`;
  await migrate(base.toString());
  const topic = `tl-bench-ingest-${id}`;
  const limitTopic = `${topic}-limit`;
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'tl-bench-ingest', logger: createLogger({ service: 'bench-ingest', level: 'warn', destination: process.stderr }) });
  await kafka.ensureTopics([
    { topic, partitions: 3 },
    { topic: `${topic}.dlq`, partitions: 1 },
    { topic: limitTopic, partitions: 3 },
  ]);
  const { recordBytes, jsonBytes } = averageRecordBytes(id);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const ingest = spawn(process.execPath, ['--import', 'tsx', 'services/ingest/src/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      DATABASE_URL: base.toString(),
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      INGEST_PORT: String(port),
      AUTH_MODE: 'none',
      RATE_LIMIT_REQUESTS_PER_SECOND: '0',
      RATE_LIMIT_EVENTS_PER_SECOND: '0',
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'warn',
    },
  });
  const results: Record<number, Stat> = {};
  try {
    await waitReady(`http://127.0.0.1:${port}/ready`, 60_000);
    const url = `http://127.0.0.1:${port}/v1/events`;
    say('warming up');
    await load(url, `${id}-warm`, 500, 2, concurrency);
    for (const size of BATCH_SIZES) {
      const perRun: number[] = [];
      for (let r = 0; r < runs; r++) {
        perRun.push(await load(url, `${id}-${size}-${r}`, size, seconds, concurrency));
        say(`batches of ${size}, run ${r + 1}/${runs}: ${fmt(Math.round(perRun[perRun.length - 1] ?? 0))} events/s`);
      }
      results[size] = stat(perRun);
    }
  } finally {
    ingest.kill('SIGTERM');
  }
  const limitRuns: number[] = [];
  for (let r = 0; r < runs; r++) {
    limitRuns.push(await producerPerformance(brokers, limitTopic, recordBytes, 1_000_000));
    say(`ProducerPerformance run ${r + 1}/${runs}: ${fmt(Math.round(limitRuns[limitRuns.length - 1] ?? 0))} records/s`);
  }
  const limit = stat(limitRuns);
  // The benchmark's own topics and database go; only the figures stay.
  const admin = new Kafka({ clientId: 'tl-bench-ingest-cleanup', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, `${topic}.dlq`, limitTopic] }).catch(() => undefined);
  await admin.disconnect();
  const db = new Client({ connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
  await db.connect();
  await db.query(`DROP DATABASE IF EXISTS tl_bench_ingest_${id} WITH (FORCE)`);
  await db.end();

  const best = Math.max(...BATCH_SIZES.map((s) => results[s]?.median ?? 0));
  const report = [
    `### ingest benchmark: ${runs} runs of ${seconds} s per batch size; events of ~${jsonBytes} bytes of JSON, ${recordBytes}-byte records`,
    '',
    '| figure | events/s, median (min–max) | limit on the same broker, same run | ratio |',
    '|---|---:|---:|---:|',
    ...BATCH_SIZES.map((s) => `| ingest, batches of ${s}, ${concurrency} requests in flight | ${cell(results[s] as Stat)} | ProducerPerformance acks=all, ${recordBytes}-byte records: ${cell(limit)} | ${ratio(results[s] as Stat, limit)} |`),
    '',
    `Machine: ${machine()}.`,
  ].join('\n');
  recordLatest('ingest', { eventsPerSec: best, limitRecordsPerSec: limit.median, byBatchSize: Object.fromEntries(BATCH_SIZES.map((s) => [s, results[s]])), limit, recordBytes, jsonBytes, seconds, runs, concurrency });
  appendHistory(BATCH_SIZES.map((s) => [`ingest, batches of ${s}`, `${cell(results[s] as Stat)} events/s`, `${cell(limit)} records/s (ProducerPerformance, acks=all, ${recordBytes} B)`, ratio(results[s] as Stat, limit)]));
  return report;
}

