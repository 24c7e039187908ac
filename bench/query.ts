/**
 * Query-service latency on a seeded database (see scripts/seed-large.ts):
 *
 *   npm run bench -- --only query [--database-url URL] [--requests 300] [--warmup 20]
 *                    [--scan-requests 10] [--seed 42] [--now ISO|real] [--explain]
 *
 * Requests go through buildQueryApp + app.inject (no socket), one at a time, each for a random
 * tenant (set through a header the bench's authenticator reads) and a random agent or team of it.
 * Only the status code is read, so the endpoints may change shape. With --explain, the slowest
 * SQL statement of each endpoint that misses its target is shown with EXPLAIN (ANALYZE, BUFFERS)
 * (statements are recorded by wrapping the pool given to the app). The whole-platform all-time
 * total is timed as SQL, once over session_rollup_hourly and once over trace_sessions.
 */
import { parseArgs } from 'node:util';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_TENANT, TraceLedgerError } from '@traceledger/core';
import { createPool, type Pool } from '@traceledger/db';
import { createLogger } from '@traceledger/logging';
import { buildQueryApp } from '@traceledger/query';
import { seededRandom } from '@traceledger/core';
import {
  DEFAULT_URL, describeDatabase, endOfData, fixedMs as fixed, percentile, periodParams, population, queryEndpoints, type Pick, type Target,
} from './query-endpoints.js';

export const name = 'query';
export const summary = 'query-service endpoint latency and whole-platform totals on a seeded database';

const TENANT_HEADER = 'x-bench-tenant';

interface Options {
  databaseUrl: string;
  requests: number;
  warmup: number;
  scanRequests: number;
  seed: number;
  /** null: the clock is pinned to the end of the seeded data. */
  now: Date | 'real' | null;
  explain: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      requests: { type: 'string', default: '300' },
      warmup: { type: 'string', default: '20' },
      'scan-requests': { type: 'string', default: '10' },
      seed: { type: 'string', default: '42' },
      now: { type: 'string' },
      explain: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (flag: string, text: string | undefined, min: number): number => {
    if (!/^\d+$/.test(text ?? '') || Number(text) < min) {
      throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--${flag} must be a whole number >= ${min}, got "${text ?? ''}"`);
    }
    return Number(text);
  };
  let now: Options['now'] = null;
  if (values.now === 'real') now = 'real';
  else if (values.now !== undefined) {
    now = new Date(values.now);
    if (Number.isNaN(now.getTime())) throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--now must be an ISO timestamp or "real", got "${values.now}"`);
  }
  return {
    databaseUrl: values['database-url'] ?? process.env['BENCH_DATABASE_URL'] ?? DEFAULT_URL,
    requests: int('requests', values.requests, 1),
    warmup: int('warmup', values.warmup, 0),
    scanRequests: int('scan-requests', values['scan-requests'], 1),
    seed: int('seed', values.seed, 0),
    now,
    explain: values.explain ?? false,
  };
}

/** One SQL statement a request ran, as the pool saw it. */
interface RecordedQuery {
  text: string;
  values: unknown[];
  ms: number;
}

interface Case {
  label: string;
  target: Target | null;
  /** Runs one request; returns its status (200 = ok) and, on failure, what the body said. */
  once: () => Promise<{ status: number; detail?: string }>;
}

interface CaseResult {
  label: string;
  target: Target | null;
  latenciesMs: number[];
  failures: Map<string, number>;
  /** The queries of the slowest measured request. */
  slowestQueries: RecordedQuery[];
}


/** Wraps `query` of a pool or client so each promise-style call is recorded into `sink`. */
function recordQueries<T extends object>(target: T, sink: { current: RecordedQuery[] }): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop);
      if (typeof value !== 'function') return value;
      if (prop === 'connect' && 'totalCount' in t) {
        // Clients checked out of the pool (e.g. for a per-tenant transaction) are recorded too.
        return (...args: unknown[]) => {
          if (args.length > 0) return (value as (...a: unknown[]) => unknown).apply(t, args);
          return ((value as () => Promise<object>).call(t)).then((client) => recordQueries(client, sink));
        };
      }
      if (prop !== 'query') return (value as (...a: unknown[]) => unknown).bind(t);
      return (...args: unknown[]) => {
        const first = args[0];
        const text = typeof first === 'string' ? first : String((first as { text?: unknown }).text ?? '');
        const values = (Array.isArray(args[1]) ? args[1] : ((first as { values?: unknown[] }).values ?? [])) as unknown[];
        const started = performance.now();
        const result = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (result instanceof Promise) {
          return result.finally(() => sink.current.push({ text, values, ms: performance.now() - started }));
        }
        return result;
      };
    },
  });
}

/** A statement that sets up or ends a transaction (tenant scoping), not one worth explaining. */
const isTransactionControl = (text: string): boolean => /^\s*(BEGIN|COMMIT|ROLLBACK|SET|START)\b/i.test(text);

/**
 * EXPLAIN (ANALYZE, BUFFERS) of `q`, inside a transaction that replays the request's own
 * transaction prelude (role and tenant settings) when it had one, and is rolled back.
 */
async function explain(pool: Pool, request: readonly RecordedQuery[], q: RecordedQuery): Promise<string[]> {
  const prelude = request.find((r) => /^\s*BEGIN\b/i.test(r.text) && r.values.length === 0);
  const client = await pool.connect();
  try {
    await client.query(prelude?.text ?? 'BEGIN READ ONLY');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.values);
    return rows.map((row) => row['QUERY PLAN']);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

async function measure(c: Case, warmup: number, n: number, sink: { current: RecordedQuery[] }): Promise<CaseResult> {
  const result: CaseResult = { label: c.label, target: c.target, latenciesMs: [], failures: new Map(), slowestQueries: [] };
  let slowest = -1;
  for (let i = 0; i < warmup + n; i++) {
    sink.current = [];
    const started = performance.now();
    let outcome: { status: number; detail?: string };
    try {
      outcome = await c.once();
    } catch (err) {
      outcome = { status: 0, detail: err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err) };
    }
    const ms = performance.now() - started;
    if (i < warmup) continue;
    result.latenciesMs.push(ms);
    if (outcome.status !== 200) {
      const key = `${outcome.status === 0 ? 'threw' : outcome.status}${outcome.detail ? ` ${outcome.detail}` : ''}`;
      result.failures.set(key, (result.failures.get(key) ?? 0) + 1);
    }
    if (ms > slowest) {
      slowest = ms;
      result.slowestQueries = sink.current;
    }
  }
  return result;
}

function injectCase(app: FastifyInstance, label: string, target: Target | null, pick: () => Pick): Case {
  return {
    label,
    target,
    once: async () => {
      const { tenantId, url } = pick();
      const res = await app.inject({ method: 'GET', url, headers: { [TENANT_HEADER]: tenantId } });
      if (res.statusCode === 200) return { status: 200 };
      let detail = '';
      try {
        const body = res.json() as { code?: unknown };
        if (typeof body.code === 'string') detail = body.code;
      } catch {
        detail = '';
      }
      return { status: res.statusCode, detail };
    },
  };
}

function sqlCase(pool: Pool, label: string, target: Target, sql: string, sink: { last: Record<string, string> | undefined }): Case {
  return {
    label,
    target,
    once: async () => {
      const { rows } = await pool.query<Record<string, string>>(sql);
      sink.last = rows[0];
      return { status: 200 };
    },
  };
}

const fmt = (n: number): string => n.toLocaleString('en-US');

function tableOf(results: readonly CaseResult[]): string {
  const lines = ['| endpoint | n | p50 ms | p99 ms | max ms | target (p99) | result |', '|---|---:|---:|---:|---:|---:|---|'];
  for (const r of results) {
    const sorted = [...r.latenciesMs].sort((a, b) => a - b);
    const p99 = percentile(sorted, 0.99);
    let verdict: string;
    if (r.failures.size > 0) {
      verdict = `**ERROR** ${[...r.failures].map(([k, v]) => `${v}× ${k}`).join(', ')}`;
    } else if (r.target === null) {
      verdict = 'no target';
    } else {
      verdict = p99 <= r.target.p99Ms ? 'pass' : '**FAIL**';
    }
    const target = r.target === null ? '—' : `≤ ${fmt(r.target.p99Ms)} ms`;
    lines.push(`| ${r.label} | ${sorted.length} | ${fixed(percentile(sorted, 0.5))} | ${fixed(p99)} | ${fixed(sorted[sorted.length - 1] ?? Number.NaN)} | ${target} | ${verdict} |`);
  }
  return lines.join('\n');
}

/** Runs the query benchmark; returns its report as markdown. Progress goes to stderr. */
export async function run(argv: string[]): Promise<string> {
  const o = parseOptions(argv);
  const db = new URL(o.databaseUrl).pathname.slice(1);
  // The same connection settings as services/query/src/main.ts (JIT off).
  const pool = createPool(o.databaseUrl, { max: 4, applicationName: 'traceledger-bench', serverOptions: '-c jit=off' });
  const sink: { current: RecordedQuery[] } = { current: [] };
  const logger = createLogger({ service: 'bench-query', level: 'fatal', destination: process.stderr });
  let app: FastifyInstance | undefined;
  try {
    const m = await describeDatabase(pool);
    if (m.lastHour === null) {
      throw new TraceLedgerError('TL_BENCH_EMPTY', `trace_sessions in ${db} is empty; seed it first: npm run seed:large -- --database-url ${o.databaseUrl}`);
    }
    // Pinned to the end of the data by default, so 7d and 30d hold a full window however long ago it was seeded.
    const now = o.now === 'real' ? new Date() : (o.now ?? endOfData(m.lastHour));
    process.stderr.write(`bench query: ${db}, clock ${o.now === 'real' ? 'real' : `pinned to ${now.toISOString()}`}; finding tenants, agents and teams\n`);
    const data = await population(pool);
    const { tenants, agents, teams } = data;

    const tenantFrom = (headers: Record<string, string | string[] | undefined>): string => {
      const v = headers[TENANT_HEADER];
      return typeof v === 'string' ? v : DEFAULT_TENANT;
    };
    // The tenant is given to the app both ways it has taken it: an Authenticator (`auth`, the
    // API-key era) and `tenantOf` (before it). Passed as a variable, so whichever the current
    // QueryDeps does not declare is ignored rather than rejected.
    const deps = {
      pool: recordQueries(pool, sink),
      logger,
      now: o.now === 'real' ? () => new Date() : () => now,
      auth: { authenticate: async (headers: Record<string, string | string[] | undefined>) => ({ tenantId: tenantFrom(headers), keyId: 'bench', scopes: ['query'] as const }) },
      tenantOf: (request: FastifyRequest) => tenantFrom(request.headers),
    };
    // Awaited whether the factory is sync or async.
    app = await buildQueryApp(deps);
    await app.ready();

    const a = app;
    const cases: Case[] = queryEndpoints(data, seededRandom(o.seed), periodParams).map((e) => injectCase(a, e.label, e.target, e.pick));
    const results: CaseResult[] = [];
    for (const c of cases) {
      process.stderr.write(`bench query: ${c.label} (${o.warmup} warm-up + ${o.requests})\n`);
      results.push(await measure(c, o.warmup, o.requests, sink));
    }

    // Whole platform, all time, all tenants: the summary table against the source table.
    const totals = { rollup: { last: undefined as Record<string, string> | undefined }, source: { last: undefined as Record<string, string> | undefined } };
    const wholePlatform: Target = { p99Ms: 1000 };
    const sqlCases: [Case, number, number][] = [
      [
        sqlCase(pool, 'SQL whole platform, all time: session_rollup_hourly', wholePlatform,
          `SELECT coalesce(sum(sessions), 0)::text AS sessions, coalesce(sum(cost), 0)::text AS cost,
                  coalesce(sum(input_tokens), 0)::text AS input_tokens, coalesce(sum(output_tokens), 0)::text AS output_tokens
           FROM session_rollup_hourly`, totals.rollup),
        o.warmup, o.requests,
      ],
      [
        sqlCase(pool, 'SQL whole platform, all time: trace_sessions', wholePlatform,
          `SELECT count(*)::text AS sessions, coalesce(sum(cost), 0)::text AS cost,
                  coalesce(sum(input_tokens), 0)::text AS input_tokens, coalesce(sum(output_tokens), 0)::text AS output_tokens
           FROM trace_sessions`, totals.source),
        Math.min(o.warmup, 2), o.scanRequests,
      ],
    ];
    for (const [c, warmup, n] of sqlCases) {
      process.stderr.write(`bench query: ${c.label} (${warmup} warm-up + ${n})\n`);
      results.push(await measure(c, warmup, n, sink));
    }

    const r = totals.rollup.last;
    const s = totals.source.last;
    const agree = r !== undefined && s !== undefined && Object.keys(s).every((k) => r[k] === s[k]);
    const out: string[] = [
      `### query benchmark: ${db}`,
      '',
      `trace_sessions: ${fmt(Number(s?.['sessions'] ?? 0))} rows (${m.size} with indexes), ${tenants.length} tenants, ${agents.length} agents, ` +
        `${teams.length} teams; clock ${o.now === 'real' ? 'real' : `pinned to ${now.toISOString()}`}; requests one at a time through app.inject.`,
      `PostgreSQL ${m.version}: ${Object.entries(m.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`,
      `Whole-platform totals: rollup and trace_sessions ${agree ? 'agree' : `**DISAGREE** (rollup ${JSON.stringify(r)} vs trace_sessions ${JSON.stringify(s)})`}` +
        (s === undefined ? '' : ` (cost ${s['cost']}, sessions ${fmt(Number(s['sessions']))}).`),
      '',
      tableOf(results),
    ];

    if (o.explain) {
      // The slowest SQL statement of the slowest request of each endpoint that missed its target.
      const missed = results.filter((x) => x.target !== null && x.failures.size === 0 &&
        percentile([...x.latenciesMs].sort((p, q) => p - q), 0.99) > x.target.p99Ms);
      for (const x of missed) {
        const q = x.slowestQueries.filter((r) => !isTransactionControl(r.text)).sort((p, v) => v.ms - p.ms)[0];
        if (q === undefined) continue;
        const plan = await explain(pool, x.slowestQueries, q);
        out.push('', `#### ${x.label}: slowest statement (${fixed(q.ms)} ms in the request), params ${JSON.stringify(q.values)}`, '',
          '```sql', q.text.trim().replace(/\n\s+/g, '\n  '), '```', '', '```', ...plan, '```');
      }
    }
    return out.join('\n');
  } finally {
    await app?.close();
    await pool.end();
  }
}
