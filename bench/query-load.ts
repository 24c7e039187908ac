/**
 * Query-service latency under concurrency, over real HTTP, on a seeded database (issue 11):
 *
 *   npm run bench -- --only queries [--database-url URL] [--clients 32] [--seconds 30 | --count N]
 *                    [--requests 300] [--warmup 20] [--seed 42] [--endpoints platform,billing]
 *                    [--compiled] [--no-record]
 *
 * The query service runs as its own process (services/query/src/main.ts, or dist/main.js with
 * --compiled) on a loopback port against the seeded database, with API-key authentication: the
 * benchmark creates a query-scope key per tenant in that database and deletes them when it ends.
 * For each endpoint of bench/query-endpoints.ts (the same requests and random tenants, agents and
 * teams as bench/query.ts): one client, `warmup` then `requests` sequential requests; then
 * `clients` closed-loop clients for `seconds` (or `count` requests in all), after 2 requests
 * each. Reported: p50/p99 of both, p99(clients)/p99(1) against the target of 3×, and
 * requests/s under load. A keep-alive agent holds one socket per client.
 *
 * The service has no clock option, so 7d and 30d are sent as the explicit from/to those periods
 * resolve to at the end of the seeded data (the instant bench/query.ts pins its clock to): the
 * same ranges and SQL. The billing summary takes no range: its this-month and last-month figures
 * follow the service's real clock (the report says which months those are).
 *
 * Writes bench/results/latest.json (key `queries`) and dated rows of docs/benchmarks.md, unless
 * --no-record.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createApiKey } from '@traceledger/auth';
import { TraceLedgerError, calendarMonths, seededRandom } from '@traceledger/core';
import { createPool, type Pool } from '@traceledger/db';
import { closedLoop, get, keepAliveAgent, oneClient, type Request, type Sample, type Stop } from './http-load.js';
import { DEFAULT_URL, describeDatabase, endOfData, fixedMs, percentile, population, queryEndpoints, rangeParams, type Endpoint } from './query-endpoints.js';
import { appendHistory, fmt, machine, recordLatest } from './report.js';
import { startService, type ServiceProcess } from './service-process.js';

export const name = 'queries';
export const summary = 'query-service p50/p99 per endpoint over HTTP (own process, API keys): one client beside N concurrent clients, on a seeded database';

/** Issue 11: p99 with 32 concurrent clients within 3× the one-client p99. */
const TARGET_RATIO = 3;
const REQUEST_TIMEOUT_MS = 60_000;
/** Unmeasured requests per client before a concurrent phase: enough to open every socket and pool connection. */
const LOAD_WARMUP_EACH = 2;

interface Options {
  databaseUrl: string;
  clients: number;
  stop: Stop;
  requests: number;
  warmup: number;
  seed: number;
  endpoints: string[] | null;
  compiled: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      clients: { type: 'string', default: '32' },
      seconds: { type: 'string' },
      count: { type: 'string' },
      requests: { type: 'string', default: '300' },
      warmup: { type: 'string', default: '20' },
      seed: { type: 'string', default: '42' },
      endpoints: { type: 'string' },
      compiled: { type: 'boolean', default: false },
      // Read by report.ts from the command line: neither latest.json nor the history is written.
      'no-record': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (flag: string, text: string | undefined, min: number): number => {
    if (!/^\d+$/.test(text ?? '') || Number(text) < min) {
      throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--${flag} must be a whole number >= ${min}, got "${text ?? ''}"`);
    }
    return Number(text);
  };
  if (values.seconds !== undefined && values.count !== undefined) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', 'give --seconds or --count, not both');
  }
  let stop: Stop = { seconds: 30 };
  if (values.count !== undefined) stop = { count: int('count', values.count, 1) };
  else if (values.seconds !== undefined) {
    const seconds = Number(values.seconds);
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--seconds must be a positive number, got "${values.seconds}"`);
    stop = { seconds };
  }
  const endpoints = values.endpoints?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? null;
  return {
    databaseUrl: values['database-url'] ?? process.env['BENCH_DATABASE_URL'] ?? DEFAULT_URL,
    clients: int('clients', values.clients, 1),
    stop,
    requests: int('requests', values.requests, 1),
    warmup: int('warmup', values.warmup, 0),
    seed: int('seed', values.seed, 0),
    endpoints: endpoints === null || endpoints.length === 0 ? null : endpoints,
    compiled: values.compiled ?? false,
  };
}

/** Endpoints whose label contains one of `filters` (all when null); each filter must match one. */
function selectEndpoints(all: readonly Endpoint[], filters: readonly string[] | null): Endpoint[] {
  if (filters === null) return [...all];
  for (const f of filters) {
    if (!all.some((e) => e.label.includes(f))) {
      throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--endpoints "${f}" matches none of: ${all.map((e) => e.label).join(', ')}`);
    }
  }
  return all.filter((e) => filters.some((f) => e.label.includes(f)));
}

interface Figures {
  n: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSec: number;
  failures: Record<string, number>;
}

function figures(s: Sample): Figures {
  const sorted = [...s.latenciesMs].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    n: sorted.length,
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    requestsPerSec: s.elapsedMs > 0 ? Math.round((sorted.length / s.elapsedMs) * 10_000) / 10 : 0,
    failures: Object.fromEntries(s.failures),
  };
}

interface EndpointResult {
  endpoint: Endpoint;
  one: Figures;
  loaded: Figures;
  loadedElapsedMs: number;
  ratio: number;
  /** CPU of the service process and of this process during the concurrent phase, in % of one core. */
  cpu: { servicePct: number | null; loadGeneratorPct: number };
}

const failed = (f: Figures): boolean => Object.keys(f.failures).length > 0;
const failureText = (f: Figures): string => Object.entries(f.failures).map(([k, v]) => `${v}× ${k}`).join(', ');

function tableOf(results: readonly EndpointResult[], clients: number): string {
  const lines = [
    `| endpoint | 1 client: n | p50 ms | p99 ms | ${clients} clients: n | p50 ms | p99 ms | req/s | CPU % service / load gen | p99 ratio | ≤ ${TARGET_RATIO}× | p99 at ${clients} vs target |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of results) {
    let verdict: string;
    if (failed(r.one) || failed(r.loaded)) verdict = `**ERROR** ${[failureText(r.one), failureText(r.loaded)].filter((t) => t !== '').join('; ')}`;
    else verdict = r.ratio <= TARGET_RATIO ? 'pass' : '**FAIL**';
    const target = r.endpoint.target;
    const absolute = target === null ? '—' : `≤ ${fmt(target.p99Ms)} ms: ${r.loaded.p99Ms <= target.p99Ms ? 'within' : '**over**'}`;
    lines.push(
      `| ${r.endpoint.label} | ${fmt(r.one.n)} | ${fixedMs(r.one.p50Ms)} | ${fixedMs(r.one.p99Ms)} | ${fmt(r.loaded.n)} | ${fixedMs(r.loaded.p50Ms)} | ` +
        `${fixedMs(r.loaded.p99Ms)} | ${fmt(Math.round(r.loaded.requestsPerSec))} | ${r.cpu.servicePct ?? '?'} / ${r.cpu.loadGeneratorPct} | ${r.ratio.toFixed(2)}× | ${verdict} | ${absolute} |`,
    );
  }
  return lines.join('\n');
}

/** Connections the query service holds open on the database (its pool), as Postgres sees them. */
async function serviceConnections(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'traceledger-query' AND datname = current_database()`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Which calendar months the billing summary reads on the real clock, beside the seeded period. */
function billingMonthsNote(end: Date): string {
  const { thisMonth, lastMonth } = calendarMonths(new Date());
  const month = (d: Date) => d.toISOString().slice(0, 7);
  const state = (m: { from: Date; to: Date }) => (m.from >= end ? 'after the seeded data, empty' : m.to > end ? `seeded up to ${end.toISOString()}` : 'fully seeded');
  return `billing summary months on the service's real clock: this month ${month(thisMonth.from)} (${state(thisMonth)}), last month ${month(lastMonth.from)} (${state(lastMonth)})`;
}

/** Runs the benchmark; returns its report as markdown. Progress goes to stderr. */
export async function run(argv: string[]): Promise<string> {
  const o = parseOptions(argv);
  const say = (s: string) => process.stderr.write(`bench queries: ${s}\n`);
  const db = new URL(o.databaseUrl).pathname.slice(1);
  // The service's connection settings (JIT off), so the settings reported are the ones its reads see.
  const pool = createPool(o.databaseUrl, { max: 2, applicationName: 'traceledger-bench-queries', serverOptions: '-c jit=off' });
  const label = `bench queries ${randomBytes(4).toString('hex')}`;
  const abort = new AbortController();
  // Every request in flight listens on it.
  setMaxListeners(o.clients + 8, abort.signal);
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      say(`${signal} again: exiting now; API keys labelled "${label}" may be left in ${db}`);
      process.exit(130);
    }
    say(`${signal}: stopping, then cleaning up (${signal} again to exit at once)`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const keyIds: string[] = [];
  let service: ServiceProcess | undefined;
  let agent: http.Agent | undefined;
  try {
    const m = await describeDatabase(pool);
    if (m.lastHour === null) {
      throw new TraceLedgerError('TL_BENCH_EMPTY', `trace_sessions in ${db} is empty; seed it first: npm run seed:large -- --database-url ${o.databaseUrl}`);
    }
    const end = endOfData(m.lastHour);
    say(`${db}: finding tenants, agents and teams`);
    const data = await population(pool);
    const { rows: est } = await pool.query<{ n: string }>(`SELECT reltuples::bigint::text AS n FROM pg_class WHERE oid = 'trace_sessions'::regclass`);
    const sessions = Number(est[0]?.n ?? 0);
    const endpoints = selectEndpoints(queryEndpoints(data, seededRandom(o.seed), rangeParams(end)), o.endpoints);

    say(`creating ${data.tenants.length} query-scope API keys ("${label}")`);
    const keyOf = new Map<string, string>();
    for (const tenantId of data.tenants) {
      const created = await createApiKey(pool, { tenantId, scopes: ['query'], label });
      keyIds.push(created.keyId);
      keyOf.set(tenantId, created.key);
    }

    service = await startService('query', { DATABASE_URL: o.databaseUrl, LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false', AUTH_MODE: 'keys' }, { compiled: o.compiled });
    say(`query service pid ${service.pid} at ${service.url.href} (${service.command})`);
    agent = keepAliveAgent(o.clients);
    const base = service.url;
    const a = agent;
    const signal = abort.signal;
    // Without a key the service must refuse: the keys, not an open door, let the requests in.
    const anonymous = await get(a, base, '/api/billing/summary', {}, signal, REQUEST_TIMEOUT_MS);
    if (anonymous.status !== 401) throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `a request without an API key got ${anonymous.status}, not 401`);

    const load0 = loadavg()[0] ?? 0;
    const during = 'seconds' in o.stop ? `${o.stop.seconds} s` : `${fmt(o.stop.count)} requests`;
    const results: EndpointResult[] = [];
    let connections = 0;
    for (const e of endpoints) {
      const request: Request = () => {
        const p = e.pick();
        return get(a, base, p.url, { authorization: `Bearer ${keyOf.get(p.tenantId) ?? ''}` }, signal, REQUEST_TIMEOUT_MS);
      };
      say(`${e.label}: 1 client (${o.warmup} warm-up + ${o.requests})`);
      const one = figures(await oneClient(request, o.warmup, o.requests, signal));
      say(`${e.label}: ${o.clients} clients (${LOAD_WARMUP_EACH} warm-up each, then ${during})`);
      const svc = service;
      const cpu0 = { service: svc.cpuSeconds(), self: process.cpuUsage(), at: performance.now() };
      const sample = await closedLoop(request, o.clients, LOAD_WARMUP_EACH, o.stop, signal);
      const wallS = (performance.now() - cpu0.at) / 1000;
      const svcCpu = svc.cpuSeconds();
      const selfCpu = process.cpuUsage(cpu0.self);
      const cpu = {
        servicePct: svcCpu === null || cpu0.service === null ? null : Math.round(((svcCpu - cpu0.service) / wallS) * 100),
        loadGeneratorPct: Math.round(((selfCpu.user + selfCpu.system) / 1e6 / wallS) * 100),
      };
      const loaded = figures(sample);
      connections = Math.max(connections, await serviceConnections(pool));
      const ratio = loaded.p99Ms / one.p99Ms;
      say(`${e.label}: p99 ${fixedMs(one.p99Ms)} → ${fixedMs(loaded.p99Ms)} ms (${ratio.toFixed(2)}×), ${fmt(Math.round(loaded.requestsPerSec))} req/s`);
      results.push({ endpoint: e, one, loaded, loadedElapsedMs: sample.elapsedMs, ratio, cpu });
    }
    const load1 = loadavg()[0] ?? 0;
    const totalRequests = results.reduce((s, r) => s + r.loaded.n, 0);
    const totalSeconds = results.reduce((s, r) => s + r.loadedElapsedMs, 0) / 1000;
    const totalRps = totalSeconds > 0 ? totalRequests / totalSeconds : 0;
    const passed = results.filter((r) => !failed(r.one) && !failed(r.loaded) && r.ratio <= TARGET_RATIO).length;

    const report = [
      `### queries under concurrency: ${db}, ${o.clients} clients over HTTP`,
      '',
      `trace_sessions: ~${fmt(sessions)} rows (${m.size} with indexes), ${data.tenants.length} tenants, ${data.agents.length} agents, ${data.teams.length} teams. ` +
        `PostgreSQL ${m.version}: ${Object.entries(m.settings).map(([k, v]) => `${k}=${v}`).join(', ')}.`,
      `Service: \`${service.command}\`, its own process on ${base.host}, API keys (one query-scope key per tenant), ` +
        `up to ${connections} database connections seen under load. Load generator: this process, a keep-alive agent with ${o.clients} sockets.`,
      `1 client: ${o.warmup} warm-up + ${fmt(o.requests)} sequential requests per endpoint; ${o.clients} clients: closed loops, ${LOAD_WARMUP_EACH} warm-up requests each, then ${during} per endpoint. ` +
        `Latency: from sending the request to the last byte of the answer. ` +
        `CPU: of the service process and of this load generator during the ${o.clients}-client phase, in % of one core (Postgres is the rest).`,
      `7d/30d sent as from/to ending at ${end.toISOString()} (what period=7d/30d resolves to with the clock at the end of the data, as bench/query.ts pins it); ${billingMonthsNote(end)}.`,
      '',
      tableOf(results, o.clients),
      '',
      `Target (issue 11): p99 with ${o.clients} clients within ${TARGET_RATIO}× the one-client p99: ${passed} of ${results.length} endpoints. ` +
        `${o.clients} clients, all endpoints: ${fmt(totalRequests)} requests in ${totalSeconds.toFixed(1)} s = **${fmt(Math.round(totalRps))} requests/s**.`,
      `Machine: ${machine()}; 1-minute load average ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end.`,
    ].join('\n');

    recordLatest('queries', {
      database: db,
      sessions,
      clients: o.clients,
      ...o.stop,
      requests: o.requests,
      warmup: o.warmup,
      compiled: o.compiled,
      targetRatio: TARGET_RATIO,
      totalRequestsPerSec: Math.round(totalRps),
      endpoints: Object.fromEntries(results.map((r) => [r.endpoint.label, { oneClient: r.one, loaded: r.loaded, p99Ratio: Math.round(r.ratio * 100) / 100, cpuPct: r.cpu }])),
    });
    appendHistory([
      ...results.map((r): [string, string, string, string] => [
        `queries, ${r.endpoint.label}, p99 at ${o.clients} clients`,
        `${fixedMs(r.loaded.p99Ms)} ms`,
        `${fixedMs(r.one.p99Ms)} ms (1 client); target ≤ ${TARGET_RATIO}×`,
        `${r.ratio.toFixed(2)}×`,
      ]),
      [`queries, ${o.clients} clients, all endpoints`, `${fmt(Math.round(totalRps))} requests/s`, '—', '—'],
    ]);
    return report;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    agent?.destroy();
    if (service !== undefined) {
      say(`stopping the query service (pid ${service.pid})`);
      await service.stop();
    }
    if (keyIds.length > 0) {
      // Deleted, not only revoked: the seeded database is left as it was.
      const { rowCount } = await pool.query('DELETE FROM api_keys WHERE key_id = ANY($1)', [keyIds]);
      say(`deleted ${rowCount ?? 0} API keys`);
    }
    await pool.end();
  }
}
