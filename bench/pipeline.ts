/**
 * The whole pipeline in one table, each figure beside the limit measured in the same run (issue 11):
 *
 *   npm run bench -- --only pipeline [--runs 3] [--events 1000000] [--seconds 30]
 *                    [--soak-minutes 10] [--query-database-url URL] [--query-seconds 30] [--no-record]
 *
 * Runs, one after another on the same broker and database server: ingest (bench/ingest.ts: HTTP
 * events/s beside ProducerPerformance), fold (bench/fold.ts: a backlog beside binary COPY and
 * ConsumerPerformance), end to end at fixed rates with the services' memory (bench/e2e.ts), and
 * queries under 32 clients on the 10M-session database (bench/query-load.ts; skipped, with the
 * command that seeds it, when that database does not exist). Each writes its own key of
 * bench/results/latest.json and its rows of docs/benchmarks.md; this prints their sections and
 * then the summary table against the targets of issue 11. Nothing here fails a build.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { TraceLedgerError } from '@traceledger/core';
import { fmt, machine, recordedFigures } from './report.js';

export const name = 'pipeline';
export const summary = 'ingest, fold, end to end at fixed rates, memory and 32-client queries, one table, each beside its limit';

const DEFAULT_QUERY_DB = 'postgres://postgres@127.0.0.1:5432/tl_bench_10m';
const SEED_COMMAND = 'npm run seed:large -- --sessions 10000000 --database-url postgres://postgres@127.0.0.1:5432/tl_bench_10m --until 2026-11-25T12:00:00Z';

interface Stat {
  median: number;
  min: number;
  max: number;
}

type Row = [figure: string, traceledger: string, limit: string, ratio: string, target: string, met: string];

const range = (s: Stat | undefined): string => (s === undefined ? '–' : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`);
const times = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
const yes = (ok: boolean): string => (ok ? 'yes' : '**no**');

async function databaseExists(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ seeded: boolean }>('SELECT EXISTS (SELECT 1 FROM trace_sessions) AS seeded');
    return rows[0]?.seeded === true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      events: { type: 'string', default: '1000000' },
      seconds: { type: 'string', default: '30' },
      rates: { type: 'string' },
      'soak-minutes': { type: 'string', default: '10' },
      'query-database-url': { type: 'string', default: DEFAULT_QUERY_DB },
      'query-seconds': { type: 'string', default: '30' },
      'no-record': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const say = (s: string) => process.stderr.write(`bench pipeline: ${s}\n`);
  const sections: string[] = [];
  const stage = async (bench: string, args: string[]): Promise<void> => {
    say(`--- ${bench} ${args.join(' ')}`);
    const mod = (await import(`./${bench}.js`)) as { run: (argv: string[]) => Promise<string> };
    const started = performance.now();
    sections.push(`${await mod.run(args)}\n\n(${bench}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  };
  // --no-record is read by report.ts from the command line; the stages always hand their figures over.
  await stage('ingest', ['--runs', values.runs as string]);
  await stage('fold', ['--runs', values.runs as string, '--events', values.events as string]);
  await stage('e2e', ['--seconds', values.seconds as string, '--soak-minutes', values['soak-minutes'] as string, ...(values.rates === undefined ? [] : ['--rates', values.rates])]);
  const queryDb = values['query-database-url'] as string;
  if (await databaseExists(queryDb)) await stage('query-load', ['--database-url', queryDb, '--seconds', values['query-seconds'] as string]);
  else sections.push(`### queries under concurrency: not run\n\nNo seeded database at ${queryDb.replace(/\/\/[^@]*@/, '//')}; seed it (about 8 minutes, 13 GB) with\n\n    ${SEED_COMMAND}`);

  const rows = summaryRows();
  if (rows.length === 0) throw new TraceLedgerError('TL_BENCH_FAILED', 'no stage recorded figures');
  return [
    ...sections,
    '',
    '## The pipeline: each figure beside its limit, same run',
    '',
    '| figure | traceledger | limit, same run | ratio | target (issue 11) | met |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Medians of the runs with min–max. Machine: ${machine()}.`,
  ].join('\n');
}

/** The summary rows from the figures the stages recorded in this process. */
function summaryRows(): Row[] {
  const rows: Row[] = [];
  const ingest = recordedFigures('ingest') as
    | { byBatchSize: Record<string, Stat>; kafkajsByBatchSize: Record<string, Stat>; twoProcessesByBatchSize?: Record<string, Stat>; limit: Stat; recordBytes: number; cores?: Record<string, { ingest: number; broker: number; loadGenerator: number }> }
    | undefined;
  if (ingest !== undefined) {
    for (const [size, s] of Object.entries(ingest.byBatchSize)) {
      rows.push([`ingest, batches of ${size}, events/s`, range(s), `ProducerPerformance acks=all, ${ingest.recordBytes} B: ${range(ingest.limit)} records/s`, times(s.median, ingest.limit.median), '≥ 100,000', yes(s.median >= 100_000)]);
    }
    for (const [size, s] of Object.entries(ingest.kafkajsByBatchSize)) {
      rows.push([`ingest with the kafkajs publisher, batches of ${size}`, range(s), 'the same', times(s.median, ingest.limit.median), '', '']);
    }
    for (const [size, s] of Object.entries(ingest.twoProcessesByBatchSize ?? {})) {
      rows.push([`ingest with INGEST_PROCESSES=2, batches of ${size}, events/s`, range(s), 'the same', times(s.median, ingest.limit.median), '≥ 100,000', yes(s.median >= 100_000)]);
    }
    for (const [runs, c] of Object.entries(ingest.cores ?? {})) {
      rows.push([`ingest CPU, ${runs}`, `ingest ${c.ingest}, broker ${c.broker}, load generator ${c.loadGenerator} cores`, '2 cores', '', '', '']);
    }
  }
  const fold = recordedFigures('fold') as { fold: Stat; copy: Stat; consumerPerformance: Stat; events: number; cpuPerEvent?: { consumerUs: number; postgresUs: number; brokerUs: number; cores: number } } | undefined;
  if (fold !== undefined) {
    rows.push([`fold of a ${fmt(fold.events)}-event backlog, events/s`, range(fold.fold), `binary COPY of the same rows: ${range(fold.copy)} rows/s`, times(fold.fold.median, fold.copy.median), '≥ 50,000', yes(fold.fold.median >= 50_000)]);
    rows.push(['', '', `ConsumerPerformance, same topic: ${range(fold.consumerPerformance)} records/s`, times(fold.fold.median, fold.consumerPerformance.median), '', '']);
    const u = fold.cpuPerEvent;
    if (u !== undefined) rows.push(['fold CPU per event', `consumer ${u.consumerUs} µs, Postgres ${u.postgresUs} µs, broker ${u.brokerUs} µs (${u.cores} cores busy)`, '2 cores', '', '', '']);
  }
  const e2e = recordedFigures('e2e') as { maxRateP99Under1s: number | null; rates: { offered: number; notRun?: string; achievedEventsPerSec?: number; p50Ms?: number | null; p99Ms?: number | null; maxMs?: number | null }[] } | undefined;
  if (e2e !== undefined) {
    for (const r of e2e.rates) {
      const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : fmt(Math.round(v)));
      const figure = r.notRun !== undefined ? r.notRun : `p50 ${ms(r.p50Ms)} / p99 ${ms(r.p99Ms)} / max ${ms(r.maxMs)} ms`;
      rows.push([`end to end at ${fmt(r.offered)} events/s offered (202 → counted by the query API)`, figure, r.achievedEventsPerSec === undefined ? '–' : `${fmt(Math.round(r.achievedEventsPerSec))} events/s acknowledged`, '', 'p99 ≤ 1 s', r.p99Ms === undefined || r.p99Ms === null ? '–' : yes(r.p99Ms <= 1000)]);
    }
    const max = e2e.maxRateP99Under1s;
    rows.push(['end to end: highest offered rate held at p99 ≤ 1 s', max === null ? 'none' : `${fmt(max)} events/s`, '', '', '≥ 30,000', yes(max !== null && max >= 30_000)]);
  }
  const memory = recordedFigures('memory') as { targetMb: number; soakMinutes: number; soakRate: number; services: Record<string, { peakMb: number | null; soak: { startMb: number; endMb: number; slopeMbPerMin: number; flat: boolean } | null }> } | undefined;
  if (memory !== undefined) {
    for (const [service, m] of Object.entries(memory.services)) {
      const soak = m.soak === null ? '' : `; ${memory.soakMinutes} min at ${fmt(memory.soakRate)}/s: ${m.soak.startMb} → ${m.soak.endMb} MB (${m.soak.slopeMbPerMin.toFixed(2)} MB/min)`;
      const under = (m.peakMb ?? Infinity) <= memory.targetMb;
      const met = m.soak === null ? (under ? 'peak yes; flat not measured (no soak)' : yes(false)) : yes(under && m.soak.flat);
      rows.push([`memory, ${service} (RSS)`, `peak ${m.peakMb ?? '–'} MB${soak}`, '', '', `≤ ${memory.targetMb} MB, flat`, met]);
    }
  }
  const queries = recordedFigures('queries') as { clients: number; targetRatio: number; totalRequestsPerSec: number; endpoints: Record<string, { oneClient: { p99Ms: number }; loaded: { p50Ms: number; p99Ms: number }; p99Ratio: number }> } | undefined;
  if (queries !== undefined) {
    for (const [endpoint, q] of Object.entries(queries.endpoints)) {
      rows.push([`query ${endpoint}, p99 at ${queries.clients} clients`, `${q.loaded.p99Ms} ms`, `1 client: ${q.oneClient.p99Ms} ms`, `${q.p99Ratio.toFixed(2)}×`, `≤ ${queries.targetRatio}×`, yes(q.p99Ratio <= queries.targetRatio)]);
    }
    rows.push([`queries, ${queries.clients} clients, all endpoints`, `${fmt(queries.totalRequestsPerSec)} requests/s`, '', '', '', '']);
  }
  return rows;
}
