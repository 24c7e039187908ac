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
 * on the same broker. The default publisher (KAFKA_PRODUCER_CLIENT's default, @platformatic/kafka) is
 * measured at every batch size and kafkajs at batches of 500, in the same run. Medians of `runs` runs, with min–max. Writes bench/results/latest.json (its
 * `ingest` key) and appends a dated row to docs/benchmarks.md.
 */
import { parseArgs } from 'node:util';
import { EventCodec, eventRecord, parseEvent } from '@traceledger/contract';
import { TraceLedgerError } from '@traceledger/core';
import { appendHistory, cell, cpuSeconds, exec, fmt, kafkaToolsClasspath, machine, ratio, recordLatest, stat, type Stat } from './report.js';
import { batchBody, createBenchWorld, startService, waitReady } from './stack.js';

export const name = 'ingest';
export const summary = 'ingest events/s over HTTP (no consumer) beside Kafka ProducerPerformance with acks=all on the same broker';

const BATCH_SIZES = [100, 500, 1000] as const;
/** The batch size at which the kafkajs publisher is measured beside the default one. */
const COMPARE_SIZE = 500;

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

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({ args: argv, options: { seconds: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' } }, strict: false });
  const seconds = Number(values.seconds);
  const runs = Number(values.runs);
  const concurrency = Number(values.concurrency);
  if (!(seconds > 0) || !Number.isInteger(runs) || runs < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--seconds must be positive, --runs and --concurrency whole numbers >= 1');
  }
  const say = (s: string) => process.stderr.write(`bench ingest: ${s}\n`);
  const world = await createBenchWorld('ingest', { extraTopics: (topic) => [`${topic}-limit`] });
  const { id, topic } = world;
  const limitTopic = `${topic}-limit`;
  const results: Record<number, Stat> = {};
  const kafkajs: Record<number, Stat> = {};
  /** INGEST_PROCESSES=2 (node:cluster) at the comparison size. */
  const twoProcesses: Record<number, Stat> = {};
  /** CPU cores used during each size's runs, by the ingest process, the broker and this load generator. */
  const cores: Record<string, { ingest: number; broker: number; loadGenerator: number }> = {};
  const limitRuns: number[] = [];
  const { recordBytes, jsonBytes } = averageRecordBytes(id);
  try {
    // The default publisher (KAFKA_PRODUCER_CLIENT's default) at every batch size, then kafkajs at
    // the comparison size: the two clients measured in the same run.
    const measure = async (label: string, settings: Record<string, string>, sizes: readonly number[], into: Record<number, Stat>): Promise<void> => {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const ingest = startService('ingest', {
        DATABASE_URL: world.databaseUrl,
        KAFKA_BROKERS: world.brokers.join(','),
        KAFKA_TOPIC: topic,
        INGEST_PORT: String(port),
        AUTH_MODE: 'none',
        RATE_LIMIT_REQUESTS_PER_SECOND: '0',
        RATE_LIMIT_EVENTS_PER_SECOND: '0',
        ...settings,
      });
      try {
        await waitReady(`http://127.0.0.1:${port}/ready`, 'ingest', { stillUp: ingest.running });
        const url = `http://127.0.0.1:${port}/v1/events`;
        say(`${label}: warming up`);
        await load(url, `${id}-${label}-warm`, 500, 2, concurrency);
        const ingestPid = String(ingest.pid);
        const sample = async () => ({
          at: performance.now(),
          // The ingest process and, with INGEST_PROCESSES > 1, its workers.
          ingest: await cpuSeconds((_cmd, pid, ppid) => pid === ingestPid || ppid === ingestPid),
          broker: await cpuSeconds((cmd) => cmd.includes('kafka.Kafka')),
          load: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()),
        });
        for (const size of sizes) {
          const perRun: number[] = [];
          const before = await sample();
          for (let r = 0; r < runs; r++) {
            perRun.push(await load(url, `${id}-${label}-${size}-${r}`, size, seconds, concurrency));
            say(`${label}, batches of ${size}, run ${r + 1}/${runs}: ${fmt(Math.round(perRun[perRun.length - 1] ?? 0))} events/s`);
          }
          const after = await sample();
          const wall = (after.at - before.at) / 1000;
          const c = (k: 'ingest' | 'broker' | 'load') => Math.round(((after[k] - before[k]) / wall) * 100) / 100;
          cores[`${label} ${size}`] = { ingest: c('ingest'), broker: c('broker'), loadGenerator: c('load') };
          into[size] = stat(perRun);
        }
      } catch (err) {
        if (!ingest.running()) say(`ingest exited; its last output:\n${ingest.tail()}`);
        throw err;
      } finally {
        await ingest.stop();
      }
    };
    await measure('default client', {}, BATCH_SIZES, results);
    await measure('kafkajs', { KAFKA_PRODUCER_CLIENT: 'kafkajs' }, [COMPARE_SIZE], kafkajs);
    await measure('2 ingest processes', { INGEST_PROCESSES: '2' }, [COMPARE_SIZE], twoProcesses);
    for (let r = 0; r < runs; r++) {
      limitRuns.push(await producerPerformance(world.brokers.join(','), limitTopic, recordBytes, 1_000_000));
      say(`ProducerPerformance run ${r + 1}/${runs}: ${fmt(Math.round(limitRuns[limitRuns.length - 1] ?? 0))} records/s`);
    }
  } finally {
    // The benchmark's own topics and database go; only the figures stay.
    for (const e of await world.remove()) say(`clean-up failed: ${e}`);
  }
  const limit = stat(limitRuns);

  const best = Math.max(...BATCH_SIZES.map((s) => results[s]?.median ?? 0));
  const report = [
    `### ingest benchmark: ${runs} runs of ${seconds} s per batch size; events of ~${jsonBytes} bytes of JSON, ${recordBytes}-byte records`,
    '',
    '| figure | events/s, median (min–max) | limit on the same broker, same run | ratio |',
    '|---|---:|---:|---:|',
    ...BATCH_SIZES.map((s) => `| ingest, batches of ${s}, ${concurrency} requests in flight | ${cell(results[s] as Stat)} | ProducerPerformance acks=all, ${recordBytes}-byte records: ${cell(limit)} | ${ratio(results[s] as Stat, limit)} |`),
    `| ingest with KAFKA_PRODUCER_CLIENT=kafkajs, batches of ${COMPARE_SIZE} | ${cell(kafkajs[COMPARE_SIZE] as Stat)} | the same | ${ratio(kafkajs[COMPARE_SIZE] as Stat, limit)} |`,
    `| ingest with INGEST_PROCESSES=2, batches of ${COMPARE_SIZE} | ${cell(twoProcesses[COMPARE_SIZE] as Stat)} | the same | ${ratio(twoProcesses[COMPARE_SIZE] as Stat, limit)} |`,
    '',
    'CPU cores used during the runs (CPU seconds per second; 2 cores in all):',
    '',
    '| runs | ingest process | broker | load generator |',
    '|---|---:|---:|---:|',
    ...Object.entries(cores).map(([k, v]) => `| ${k} | ${v.ingest} | ${v.broker} | ${v.loadGenerator} |`),
    '',
    `Machine: ${machine()}.`,
  ].join('\n');
  recordLatest('ingest', { eventsPerSec: best, limitRecordsPerSec: limit.median, byBatchSize: Object.fromEntries(BATCH_SIZES.map((s) => [s, results[s]])), kafkajsByBatchSize: kafkajs, twoProcessesByBatchSize: twoProcesses, cores, limit, recordBytes, jsonBytes, seconds, runs, concurrency });
  appendHistory([
    ...BATCH_SIZES.map((s): [string, string, string, string] => [`ingest, batches of ${s}`, `${cell(results[s] as Stat)} events/s`, `${cell(limit)} records/s (ProducerPerformance, acks=all, ${recordBytes} B)`, ratio(results[s] as Stat, limit)]),
    [`ingest, kafkajs publisher, batches of ${COMPARE_SIZE}`, `${cell(kafkajs[COMPARE_SIZE] as Stat)} events/s`, `${cell(limit)} records/s (ProducerPerformance, acks=all, ${recordBytes} B)`, ratio(kafkajs[COMPARE_SIZE] as Stat, limit)],
    [`ingest, INGEST_PROCESSES=2, batches of ${COMPARE_SIZE}`, `${cell(twoProcesses[COMPARE_SIZE] as Stat)} events/s`, `${cell(limit)} records/s (ProducerPerformance, acks=all, ${recordBytes} B)`, ratio(twoProcesses[COMPARE_SIZE] as Stat, limit)],
  ]);
  return report;
}

