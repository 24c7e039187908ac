/**
 * What the query benchmarks share (bench/query.ts in-process, bench/query-load.ts over HTTP): the
 * seeded database they read, the endpoints they call with their p99 targets, the random tenant,
 * agent or team of each request, and the percentile they report.
 */
import { resolvePeriod, type Period } from '@traceledger/core';
import type { Pool } from '@traceledger/db';

export const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/traceledger_large';

/** A latency target on p99. */
export interface Target {
  p99Ms: number;
}

/** One request to make: the tenant it acts for and the path with its query string. */
export interface Pick {
  tenantId: string;
  url: string;
}

/** An endpoint as the benchmarks call it; `pick` draws the next request from the shared random stream. */
export interface Endpoint {
  label: string;
  target: Target | null;
  pick: () => Pick;
}

/** A (tenant, agent or team) pair present in the data. */
export interface ScopePair {
  tenantId: string;
  id: string;
}

/** The database as the benchmarks describe it. */
export interface DatabaseInfo {
  /** The last hour holding sessions (session_rollup_hourly); null when trace_sessions is empty. */
  lastHour: Date | null;
  settings: Record<string, string>;
  version: string;
  /** trace_sessions with its indexes, pretty-printed. */
  size: string;
}

/** The planner and memory settings that matter to these reads, the server version and the table's size. */
export async function describeDatabase(pool: Pool): Promise<DatabaseInfo> {
  const { rows } = await pool.query<{ last_hour: Date | null; settings: Record<string, string>; version: string; size: string }>(
    `SELECT (SELECT max(hour) FROM session_rollup_hourly) AS last_hour,
            (SELECT jsonb_object_agg(name, current_setting(name)) FROM unnest(ARRAY['shared_buffers', 'work_mem',
               'max_parallel_workers_per_gather', 'effective_cache_size', 'random_page_cost', 'jit']) AS name) AS settings,
            current_setting('server_version') AS version,
            pg_size_pretty(pg_total_relation_size('trace_sessions')) AS size`,
  );
  const m = rows[0];
  return { lastHour: m?.last_hour ?? null, settings: m?.settings ?? {}, version: m?.version ?? '?', size: m?.size ?? '?' };
}

/**
 * The instant the benchmarks treat as "now": just after the last seeded hour (the seed's
 * `--until`), so 7d and 30d windows are full however long ago the data was seeded.
 */
export function endOfData(lastHour: Date): Date {
  return new Date(lastHour.getTime() + 3_600_000);
}

/** Distinct (tenant, column) pairs by a skip scan of the (tenant_id, column, started_at) index. */
export async function distinctPairs(pool: Pool, column: 'agent_id' | 'team_id'): Promise<ScopePair[]> {
  const { rows } = await pool.query<{ tenant_id: string; id: string }>(
    `WITH RECURSIVE t AS (
       (SELECT tenant_id, ${column} AS id FROM trace_sessions WHERE ${column} IS NOT NULL ORDER BY tenant_id, ${column} LIMIT 1)
       UNION ALL
       SELECT n.tenant_id, n.id FROM t CROSS JOIN LATERAL (
         SELECT tenant_id, ${column} AS id FROM trace_sessions s
         WHERE (s.tenant_id, s.${column}) > (t.tenant_id, t.id) ORDER BY tenant_id, ${column} LIMIT 1) n
     )
     SELECT tenant_id, id FROM t`,
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
}

/** The tenants, agents and teams requests are drawn from. */
export interface Population {
  tenants: string[];
  agents: ScopePair[];
  teams: ScopePair[];
}

export async function population(pool: Pool): Promise<Population> {
  const agents = await distinctPairs(pool, 'agent_id');
  const teams = await distinctPairs(pool, 'team_id');
  const tenants = [...new Set([...agents, ...teams].map((p) => p.tenantId))].sort();
  return { tenants, agents, teams };
}

/** The query string of a rolling window, e.g. `period=7d`. */
export type WindowParams = (period: Extract<Period, '7d' | '30d'>) => string;

/** The window as a named period: for an app whose clock is pinned to the end of the data. */
export const periodParams: WindowParams = (period) => `period=${period}`;

/**
 * The window as the explicit from/to that `period` resolves to at `now` (to the millisecond): the
 * same range, hence the same SQL, for a service running on the real clock.
 */
export function rangeParams(now: Date): WindowParams {
  return (period) => {
    const { from, to } = resolvePeriod(period, now);
    return `from=${encodeURIComponent(from?.toISOString() ?? '')}&to=${encodeURIComponent(to?.toISOString() ?? '')}`;
  };
}

/**
 * The dashboard endpoints with their p99 targets (docs/query-performance.md). Each `pick` draws
 * its tenant, agent or team uniformly from `random`; labels name the period, whatever `window`
 * sends for it.
 */
export function queryEndpoints(data: Population, random: () => number, window: WindowParams): Endpoint[] {
  const pickOf = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const tenantUrl = (url: string) => () => ({ tenantId: pickOf(data.tenants), url });
  const scopedUrl = (pairs: readonly ScopePair[], path: string, period: '7d' | '30d') => () => {
    const p = pickOf(pairs);
    return { tenantId: p.tenantId, url: `${path}/${encodeURIComponent(p.id)}?${window(period)}` };
  };
  const scoped: Target = { p99Ms: 50 };
  return [
    { label: 'GET /api/analytics/platform?period=7d', target: scoped, pick: tenantUrl(`/api/analytics/platform?${window('7d')}`) },
    { label: 'GET /api/analytics/platform?period=30d', target: scoped, pick: tenantUrl(`/api/analytics/platform?${window('30d')}`) },
    { label: 'GET /api/analytics/platform?period=all', target: null, pick: tenantUrl('/api/analytics/platform?period=all') },
    { label: 'GET /api/analytics/agents/:id?period=7d', target: scoped, pick: scopedUrl(data.agents, '/api/analytics/agents', '7d') },
    { label: 'GET /api/analytics/agents/:id?period=30d', target: scoped, pick: scopedUrl(data.agents, '/api/analytics/agents', '30d') },
    { label: 'GET /api/analytics/teams/:id?period=7d', target: scoped, pick: scopedUrl(data.teams, '/api/analytics/teams', '7d') },
    { label: 'GET /api/analytics/teams/:id?period=30d', target: scoped, pick: scopedUrl(data.teams, '/api/analytics/teams', '30d') },
    { label: 'GET /api/billing/summary', target: { p99Ms: 150 }, pick: tenantUrl('/api/billing/summary') },
  ];
}

/** Nearest-rank percentile of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Milliseconds with 3 significant-ish digits; a dash for NaN. */
export const fixedMs = (ms: number): string => (Number.isNaN(ms) ? '—' : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
