/**
 * Horizontal consumers (issue 12): the fold's events/s with 1, 2 and 3 consumer processes in one
 * group, each the real service (its own Node process), with the CPU each part used:
 *
 *   npm run bench -- --only consumers [--events 600000] [--processes 1,2,3] [--partitions 6]
 *
 * One backlog of `events` (sessions of 10, as bench/fold.ts writes them) on a topic of
 * `partitions` partitions; per process count a fresh database and consumer group. Timed from the
 * moment every process answers /ready until the group has committed everything; the events folded
 * in that window over its length. CPU: the consumer processes, every Postgres process and the
 * broker, from /proc, in cores (CPU seconds per second). On 2 cores the gain is bounded: reported
 * as measured. Writes bench/results/latest.json (`consumers`) and docs/benchmarks.md.
 */
import { parseArgs } from 'node:util';
import { EventCodec, eventRecord } from '@traceledger/contract';
import { TraceLedgerError } from '@traceledger/core';
import { dropDatabase, migrate } from '@traceledger/db';
import { freePort } from '../tests/helpers/faults/ports.js';
import { backlogEvent } from './fold.js';
import { appendHistory, cpuSeconds, fmt, machine, recordLatest } from './report.js';
import { createBenchWorld, startService, waitReady, type BenchService } from './stack.js';

export const name = 'consumers';
export const summary = 'fold events/s with 1, 2 and 3 consumer processes in one group, with the CPU of each part';

interface Row {
  processes: number;
  eventsPerSec: number;
  seconds: number;
  cores: { consumers: number; postgres: number; broker: number };
}

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({ args: argv, options: { events: { type: 'string', default: '600000' }, processes: { type: 'string', default: '1,2,3' }, partitions: { type: 'string', default: '6' } }, strict: false });
  const events = Number(values.events);
  const counts = String(values.processes).split(',').map(Number);
  const partitions = Number(values.partitions);
  if (!Number.isInteger(events) || events < 1000 || counts.some((c) => !Number.isInteger(c) || c < 1) || !Number.isInteger(partitions) || partitions < 1) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--events must be a whole number >= 1000, --processes a list of whole numbers >= 1, --partitions >= 1');
  }
  const say = (s: string) => process.stderr.write(`bench consumers: ${s}\n`);
  const world = await createBenchWorld('consumers', { partitions });
  const rows: Row[] = [];
  const databases: string[] = [];
  let running: BenchService[] = [];
  try {
    const codec = EventCodec.fromDirectory();
    const publisher = world.kafka.publisher();
    await publisher.connect();
    say(`writing ${fmt(events)} events to ${world.topic} (${partitions} partitions)`);
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < events; i += 5000) {
      const chunk = [];
      for (let n = i; n < Math.min(events, i + 5000); n++) chunk.push(eventRecord(codec, backlogEvent(world.id, n, t0), Date.now()));
      await publisher.publish(world.topic, chunk, 60_000);
    }
    await publisher.disconnect();

    for (const k of counts) {
      const url = new URL(world.databaseUrl);
      url.pathname = `${url.pathname}_${k}`;
      const databaseUrl = url.toString();
      databases.push(databaseUrl);
      await migrate(databaseUrl);
      const group = `${world.group}-${k}`;
      const ports = await Promise.all(Array.from({ length: k }, () => freePort()));
      running = ports.map((port) =>
        startService('consumer', {
          DATABASE_URL: databaseUrl,
          MIGRATE_ON_START: 'false',
          KAFKA_BROKERS: world.brokers.join(','),
          KAFKA_TOPIC: world.topic,
          KAFKA_DLQ_TOPIC: world.deadLetterTopic,
          KAFKA_CONSUMER_GROUP: group,
          CONSUMER_PORT: String(port),
        }),
      );
      const pids = new Set(running.map((s) => String(s.pid)));
      await Promise.all(ports.map((port, i) => waitReady(`http://127.0.0.1:${port}/ready`, `consumer ${i + 1}/${k}`, { stillUp: () => running[i]?.running() ?? false })));
      const cpu = async () => ({
        consumers: await cpuSeconds((_cmd, pid) => pids.has(pid)),
        postgres: await cpuSeconds((cmd) => cmd.startsWith('postgres')),
        broker: await cpuSeconds((cmd) => cmd.includes('kafka.Kafka')),
      });
      const before = await cpu();
      const started = performance.now();
      const lagAtStart = await world.kafka.consumerLag(group, world.topic);
      while ((await world.kafka.consumerLag(group, world.topic)) > 0) await new Promise((r) => setTimeout(r, 200));
      const seconds = (performance.now() - started) / 1000;
      const after = await cpu();
      const row: Row = {
        processes: k,
        eventsPerSec: Math.round(lagAtStart / seconds),
        seconds: Math.round(seconds * 10) / 10,
        cores: {
          consumers: round2((after.consumers - before.consumers) / seconds),
          postgres: round2((after.postgres - before.postgres) / seconds),
          broker: round2((after.broker - before.broker) / seconds),
        },
      };
      rows.push(row);
      say(`${k} process(es): ${fmt(row.eventsPerSec)} events/s (${fmt(lagAtStart)} events in ${row.seconds} s); cores: consumers ${row.cores.consumers}, Postgres ${row.cores.postgres}, broker ${row.cores.broker}`);
      await Promise.all(running.map((s) => s.stop()));
      running = [];
    }
  } finally {
    await Promise.all(running.map((s) => s.stop().catch(() => undefined)));
    for (const d of databases) await dropDatabase(d).catch(() => undefined);
    for (const e of await world.remove()) say(`clean-up failed: ${e}`);
  }
  const one = rows.find((r) => r.processes === 1);
  recordLatest('consumers', { events, partitions, rows });
  appendHistory(rows.map((r) => [`fold with ${r.processes} consumer process(es), ${partitions} partitions`, `${fmt(r.eventsPerSec)} events/s`, `CPU cores: consumers ${r.cores.consumers}, Postgres ${r.cores.postgres}, broker ${r.cores.broker}`, one === undefined ? '–' : `${(r.eventsPerSec / one.eventsPerSec).toFixed(2)}× one process`]));
  return [
    `### horizontal consumers: a backlog of ${fmt(events)} events on ${partitions} partitions, 1..${Math.max(...counts)} consumer processes in one group`,
    '',
    '| processes | events/s | vs one process | seconds | CPU cores: consumer processes | Postgres | broker |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.processes} | ${fmt(r.eventsPerSec)} | ${one === undefined ? '–' : `${(r.eventsPerSec / one.eventsPerSec).toFixed(2)}×`} | ${r.seconds} | ${r.cores.consumers} | ${r.cores.postgres} | ${r.cores.broker} |`),
    '',
    `Timed from every process answering /ready to the group's lag reaching 0 (events folded in that window). Machine: ${machine()}.`,
  ].join('\n');
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
