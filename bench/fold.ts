/**
 * The fold from a backlog beside the limits of the same database and broker, in the same run:
 *
 *   npm run bench -- --only fold [--events 1000000] [--runs 3]
 *
 * traceledger: a topic holding `events` records (written straight to it, ~10 events per session),
 * then a consumer (in this process, as the service builds it) folds the whole backlog into a fresh
 * database: events/s from its start until its group has committed everything. Each run uses a
 * fresh database and consumer group on the same topic. Limits: Postgres' binary COPY of the very
 * ledger and session rows the fold wrote into identical tables (indexes included; the file is
 * written and read by the server), and Kafka's ConsumerPerformance reading the same topic.
 * Medians of `runs`, with min–max. Writes bench/results/latest.json (`fold`) and docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '@traceledger/config';
import { EventCodec, eventRecord } from '@traceledger/contract';
import { TraceLedgerError, traceEvent, type TraceEvent } from '@traceledger/core';
import { buildConsumerService } from '@traceledger/consumer';
import { bookPricing, createPool, dropDatabase, migrate, readPriceFiles, storePriceEntries } from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';
import { Kafka, logLevel } from 'kafkajs';
import { appendHistory, cell, cpuSeconds, exec, fmt, kafkaToolsClasspath, machine, ratio, recordLatest, stat } from './report.js';

export const name = 'fold';
export const summary = 'consumer fold of a 1M-event backlog beside binary COPY of the same rows and Kafka ConsumerPerformance';

/** Event `n` of the backlog: sessions of 10 (start, usage, tool calls, end). */
export function backlogEvent(runId: string, n: number, t0: number): TraceEvent {
  const sessionId = `s-${runId}-${Math.floor(n / 10)}`;
  const base = { tenantId: 'bench', eventId: `e-${runId}-${n}`, sessionId, agentId: `agent-${n % 50}`, teamId: `team-${n % 7}`, occurredAtMs: t0 + n };
  const k = n % 10;
  if (k === 0) return traceEvent({ ...base, type: 'session.started' });
  if (k === 9) return traceEvent({ ...base, type: 'session.ended', status: 'success' });
  if (k % 3 === 0) return traceEvent({ ...base, type: 'tool.call', toolName: 'web_search', durationMs: (n * 37) % 2000 });
  return traceEvent({ ...base, type: 'llm.usage', provider: 'openai', model: 'gpt-4o-mini', inputTokens: 800 + (n % 4000), outputTokens: 50 + (n % 700) });
}

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({ args: argv, options: { events: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } }, strict: false });
  const events = Number(values.events);
  const runs = Number(values.runs);
  if (!Number.isInteger(events) || events < 1000 || !Number.isInteger(runs) || runs < 1) throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--events must be a whole number >= 1000, --runs >= 1');
  const config = loadConfig();
  const id = randomBytes(4).toString('hex');
  const say = (s: string) => process.stderr.write(`bench fold: ${s}\n`);
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const admin = new URL(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const logger = createLogger({ service: 'bench-fold', level: 'warn', destination: process.stderr });
  const kafka = createKafka({ brokers, clientId: 'tl-bench-fold', logger });
  const topic = `tl-bench-fold-${id}`;
  await kafka.ensureTopics([
    { topic, partitions: 3 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const codec = EventCodec.fromDirectory();
  const publisher = kafka.publisher();
  await publisher.connect();
  say(`writing ${fmt(events)} events to ${topic}`);
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < events; i += 5000) {
    const chunk: ReturnType<typeof eventRecord>[] = [];
    for (let n = i; n < Math.min(events, i + 5000); n++) chunk.push(eventRecord(codec, backlogEvent(id, n, t0), Date.now()));
    await publisher.publish(topic, chunk, 60_000);
  }
  await publisher.disconnect();

  const fold: number[] = [];
  const cpuRuns: { consumerUs: number; postgresUs: number; brokerUs: number; cores: number }[] = [];
  const copy: number[] = [];
  const databases: string[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const url = new URL(admin);
      url.pathname = `/tl_bench_fold_${id}_${r}`;
      databases.push(url.toString());
      await migrate(url.toString());
      const pool = createPool(url.toString(), { max: 10 });
      try {
        await storePriceEntries(pool, readPriceFiles());
        const group = `tl-bench-fold-${id}-${r}`;
        const consumer = buildConsumerService({ consumer: kafka.consumer({ groupId: group, concurrency: config.consumerConcurrency }), deadLetters: kafka.publisher(), pool, codec, logger, pricing: bookPricing() }, { topic, deadLetterTopic: `${topic}.dlq` });
        const cpu = async () => ({ pg: await cpuSeconds((cmd) => cmd.startsWith('postgres')), broker: await cpuSeconds((cmd) => cmd.includes('kafka.Kafka')), me: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()) });
        const before = await cpu();
        const started = performance.now();
        await consumer.start();
        while ((await kafka.consumerLag(group, topic)) > 0) await new Promise((res) => setTimeout(res, 250));
        const wall = (performance.now() - started) / 1000;
        const after = await cpu();
        fold.push(events / wall);
        // CPU per event of each part, in µs, and the cores it kept busy.
        cpuRuns.push({ consumerUs: ((after.me - before.me) / events) * 1e6, postgresUs: ((after.pg - before.pg) / events) * 1e6, brokerUs: ((after.broker - before.broker) / events) * 1e6, cores: (after.me - before.me + after.pg - before.pg + after.broker - before.broker) / wall });
        await consumer.stop();
        say(`fold run ${r + 1}/${runs}: ${fmt(Math.round(fold[fold.length - 1] ?? 0))} events/s`);

        // The limit: the same rows (ledger, event keys, sessions), written by the server's binary
        // COPY into tables with the same columns and indexes (the ledger as one unpartitioned table).
        const file = `/tmp/tl-bench-fold-${id}-${r}`;
        await pool.query(`COPY (SELECT * FROM applied_events) TO '${file}-ledger' (FORMAT binary)`);
        await pool.query(`COPY applied_event_keys TO '${file}-keys' (FORMAT binary)`);
        await pool.query(`COPY trace_sessions TO '${file}-sessions' (FORMAT binary)`);
        await pool.query(
          'CREATE TABLE copy_ledger (LIKE applied_events INCLUDING ALL); CREATE TABLE copy_keys (LIKE applied_event_keys INCLUDING ALL); CREATE TABLE copy_sessions (LIKE trace_sessions INCLUDING ALL)',
        );
        const c0 = performance.now();
        await pool.query(`COPY copy_ledger FROM '${file}-ledger' (FORMAT binary)`);
        await pool.query(`COPY copy_keys FROM '${file}-keys' (FORMAT binary)`);
        await pool.query(`COPY copy_sessions FROM '${file}-sessions' (FORMAT binary)`);
        copy.push(events / ((performance.now() - c0) / 1000));
        await exec('rm', ['-f', `${file}-ledger`, `${file}-keys`, `${file}-sessions`]);
        say(`binary COPY run ${r + 1}/${runs}: ${fmt(Math.round(copy[copy.length - 1] ?? 0))} ledger rows/s (with their sessions)`);
      } finally {
        await pool.end();
      }
    }
    const cp = await kafkaToolsClasspath();
    const consumed: number[] = [];
    for (let r = 0; r < runs; r++) {
      const { stdout } = await exec('java', ['-Xmx512m', '-cp', cp, 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', brokers.join(','), '--topic', topic, '--messages', String(events), '--group', `tl-bench-cp-${id}-${r}`, '--timeout', '60000'], { timeout: 300_000 });
      // The data line: start, end, MB, MB/s, messages, messages/s, ...
      const data = stdout.trim().split('\n').pop()?.split(',').map((s) => s.trim()) ?? [];
      const perSec = Number(data[5]);
      if (!Number.isFinite(perSec)) throw new TraceLedgerError('TL_BENCH_LIMIT_FAILED', `ConsumerPerformance printed no rate: ${stdout.slice(-400)}`);
      consumed.push(perSec);
      say(`ConsumerPerformance run ${r + 1}/${runs}: ${fmt(Math.round(perSec))} records/s`);
    }
    const f = stat(fold);
    const c = stat(copy);
    const k = stat(consumed);
    const med = (pick: (r: (typeof cpuRuns)[number]) => number) => Math.round(([...cpuRuns].map(pick).sort((a, b) => a - b)[Math.floor(cpuRuns.length / 2)] ?? 0) * 10) / 10;
    const cpuPerEvent = { consumerUs: med((r) => r.consumerUs), postgresUs: med((r) => r.postgresUs), brokerUs: med((r) => r.brokerUs), cores: med((r) => r.cores) };
    recordLatest('fold', { eventsPerSec: f.median, limitRowsPerSec: c.median, limitConsumerRecordsPerSec: k.median, fold: f, copy: c, consumerPerformance: k, cpuPerEvent, events, runs });
    appendHistory([
      [`fold of a ${fmt(events)}-event backlog`, `${cell(f)} events/s`, `${cell(c)} rows/s (binary COPY of the same ledger and session rows)`, ratio(f, c)],
      [`fold of a ${fmt(events)}-event backlog`, `${cell(f)} events/s`, `${cell(k)} records/s (ConsumerPerformance, same topic)`, ratio(f, k)],
    ]);
    return [
      `### fold benchmark: a backlog of ${fmt(events)} events (sessions of 10), ${runs} runs, each into a fresh database`,
      '',
      '| figure | median (min–max) | limit, same run | ratio |',
      '|---|---:|---:|---:|',
      `| fold, events/s until the group committed everything | ${cell(f)} | binary COPY of the same ledger and session rows into identical tables: ${cell(c)} rows/s | ${ratio(f, c)} |`,
      `| | | ConsumerPerformance on the same topic: ${cell(k)} records/s | ${ratio(f, k)} |`,
      '',
      `CPU per event during the fold (medians): consumer process ${cpuPerEvent.consumerUs} µs, Postgres ${cpuPerEvent.postgresUs} µs, broker ${cpuPerEvent.brokerUs} µs; ${cpuPerEvent.cores} of the 2 cores busy.`,
      '',
      `Machine: ${machine()}.`,
    ].join('\n');
  } finally {
    for (const d of databases) await dropDatabase(d).catch(() => undefined);
    const a = new Kafka({ clientId: 'tl-bench-fold-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
    await a.disconnect();
  }
}
