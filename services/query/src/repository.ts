import type { PoolClient } from '@traceledger/db';

/** A connection inside the caller's tenant transaction (see withTenant). */
export type Db = Pick<PoolClient, 'query'>;
import type { Bucket, TimeRange } from '@traceledger/core';

/**
 * Every read of the query service. Each answer is computed from trace_sessions: directly, or for
 * tenant-wide totals from session_rollup_hourly (a summary of trace_sessions kept in the same
 * transaction by triggers) for whole UTC hours plus trace_sessions for the partial hours at
 * either end, so the result is exactly the sum over trace_sessions. Sums come back as Postgres
 * numeric text and stay exact until they are written into the JSON answer.
 */

export interface Totals {
  sessions: string;
  running: string;
  success: string;
  error: string;
  timeout: string;
  cancelled: string;
  inputTokens: string;
  outputTokens: string;
  cost: string;
  unpricedSessions: string;
  unpricedTokens: string;
}

export interface DurationStats {
  avgMs: string | null;
  p50Ms: string | null;
  p95Ms: string | null;
  p99Ms: string | null;
}

export type Scope = { kind: 'tenant' } | { kind: 'agent'; agentId: string } | { kind: 'team'; teamId: string };

/** Builds a parameter list as SQL is written: `p.add(v)` returns its placeholder. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

const TOTALS_OVER = (src: string): string => `
  coalesce(sum(sessions), 0)::text AS sessions,
  coalesce(sum(sessions) FILTER (WHERE status = 'running'), 0)::text AS running,
  coalesce(sum(sessions) FILTER (WHERE status = 'success'), 0)::text AS success,
  coalesce(sum(sessions) FILTER (WHERE status = 'error'), 0)::text AS error,
  coalesce(sum(sessions) FILTER (WHERE status = 'timeout'), 0)::text AS timeout,
  coalesce(sum(sessions) FILTER (WHERE status = 'cancelled'), 0)::text AS cancelled,
  coalesce(sum(input_tokens), 0)::text AS "inputTokens",
  coalesce(sum(output_tokens), 0)::text AS "outputTokens",
  coalesce(sum(cost), 0)::text AS cost,
  coalesce(sum(unpriced_sessions), 0)::text AS "unpricedSessions",
  coalesce(sum(unpriced_tokens), 0)::text AS "unpricedTokens"
  FROM (${src}) u`;

/** trace_sessions rows in the shape of rollup rows (one session each). */
const SESSION_AS_ROLLUP = `SELECT status, 1 AS sessions, input_tokens, output_tokens, cost,
  (unpriced_events > 0)::int AS unpriced_sessions, unpriced_tokens FROM trace_sessions`;

function rangeSql(p: Params, column: string, range: TimeRange): string {
  let sql = '';
  if (range.from !== null) sql += ` AND ${column} >= ${p.add(range.from.toISOString())}`;
  if (range.to !== null) sql += ` AND ${column} < ${p.add(range.to.toISOString())}`;
  return sql;
}

function scopeSql(p: Params, scope: Scope): string {
  if (scope.kind === 'agent') return ` AND agent_id = ${p.add(scope.agentId)}`;
  if (scope.kind === 'team') return ` AND team_id = ${p.add(scope.teamId)}`;
  return '';
}

const HOUR_MS = 3_600_000;
const ceilHour = (d: Date): Date => new Date(Math.ceil(d.getTime() / HOUR_MS) * HOUR_MS);
const floorHour = (d: Date): Date => new Date(Math.floor(d.getTime() / HOUR_MS) * HOUR_MS);

/**
 * Totals of a tenant, or of one of its agents or teams, over sessions started in `range`.
 * Tenant and team totals read whole hours from their rollups and the partial hours at the ends
 * from trace_sessions; agent totals read trace_sessions (an agent's covering index makes that
 * cheap).
 */
export async function totals(pool: Db, tenantId: string, scope: Scope, range: TimeRange): Promise<Totals> {
  const p = new Params();
  const tenant = p.add(tenantId);
  let src: string;
  if (scope.kind === 'agent') {
    src = `${SESSION_AS_ROLLUP} WHERE tenant_id = ${tenant}${scopeSql(p, scope)}${rangeSql(p, 'started_at', range)}`;
  } else {
    // Tenants and teams: whole hours from their rollup, partial hours at the ends from trace_sessions.
    const rollup =
      scope.kind === 'team'
        ? `session_rollup_team_hourly WHERE tenant_id = ${tenant} AND team_id = ${p.add(scope.teamId)}`
        : `session_rollup_hourly WHERE tenant_id = ${tenant}`;
    // Built only when used: each call adds its parameters.
    const raw = (): string => `${SESSION_AS_ROLLUP} WHERE tenant_id = ${tenant}${scopeSql(p, scope)}`;
    const whole: TimeRange = { from: range.from && ceilHour(range.from), to: range.to && floorHour(range.to) };
    if (whole.from !== null && whole.to !== null && whole.from.getTime() >= whole.to.getTime()) {
      src = `${raw()}${rangeSql(p, 'started_at', range)}`;
    } else {
      const edges: string[] = [];
      if (range.from !== null && whole.from !== null && whole.from.getTime() !== range.from.getTime()) {
        edges.push(`(started_at >= ${p.add(range.from.toISOString())} AND started_at < ${p.add(whole.from.toISOString())})`);
      }
      if (range.to !== null && whole.to !== null && whole.to.getTime() !== range.to.getTime()) {
        edges.push(`(started_at >= ${p.add(whole.to.toISOString())} AND started_at < ${p.add(range.to.toISOString())})`);
      }
      src = `SELECT status, sessions, input_tokens, output_tokens, cost, unpriced_sessions, unpriced_tokens
             FROM ${rollup}${rangeSql(p, 'hour', whole)}`;
      if (edges.length > 0) src += ` UNION ALL ${raw()} AND (${edges.join(' OR ')})`;
    }
  }
  const { rows } = await pool.query<Totals>(`SELECT ${TOTALS_OVER(src)}`, p.values);
  return rows[0] as Totals;
}

/** Average and percentile session durations (ended sessions only) over `range`. */
export async function durations(pool: Db, tenantId: string, scope: Scope, range: TimeRange): Promise<DurationStats> {
  const p = new Params();
  const where = `tenant_id = ${p.add(tenantId)}${scopeSql(p, scope)}${rangeSql(p, 'started_at', range)} AND duration_ms IS NOT NULL`;
  const { rows } = await pool.query<DurationStats>(
    `SELECT round(avg(duration_ms))::bigint::text AS "avgMs",
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms))::bigint::text AS "p50Ms",
            round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms))::bigint::text AS "p95Ms",
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms))::bigint::text AS "p99Ms"
     FROM trace_sessions WHERE ${where}`,
    p.values,
  );
  return rows[0] as DurationStats;
}

/** Whether the tenant has ever had a session of this agent or team (404 otherwise). */
export async function scopeExists(pool: Db, tenantId: string, scope: Scope): Promise<boolean> {
  const p = new Params();
  const { rows } = await pool.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM trace_sessions WHERE tenant_id = ${p.add(tenantId)}${scopeSql(p, scope)}) AS found`,
    p.values,
  );
  return rows[0]?.found === true;
}

/**
 * Distinct agents with a session started in `range`. Walks the tenant's distinct agents through
 * the (tenant_id, agent_id, started_at) index (a loose index scan: one probe per agent) and asks
 * each whether it has a session in the range, instead of reading every session of the range.
 */
export async function activeAgents(pool: Db, tenantId: string, range: TimeRange): Promise<string> {
  const p = new Params();
  const tenant = p.add(tenantId);
  const { rows } = await pool.query<{ n: string }>(
    `WITH RECURSIVE agents AS (
       (SELECT agent_id FROM trace_sessions WHERE tenant_id = ${tenant} AND agent_id IS NOT NULL ORDER BY agent_id LIMIT 1)
       UNION ALL
       SELECT (SELECT s.agent_id FROM trace_sessions s WHERE s.tenant_id = ${tenant} AND s.agent_id > a.agent_id ORDER BY s.agent_id LIMIT 1)
       FROM agents a WHERE a.agent_id IS NOT NULL)
     SELECT count(*)::text AS n FROM agents a
     WHERE a.agent_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM trace_sessions s WHERE s.tenant_id = ${tenant} AND s.agent_id = a.agent_id${rangeSql(p, 's.started_at', range)})`,
    p.values,
  );
  return rows[0]?.n ?? '0';
}

/** Dimensions answers can be grouped and filtered by. */
export const DIMENSIONS = ['agent', 'team', 'model', 'status'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface SeriesQuery {
  range: { from: Date; to: Date };
  bucket: Bucket | null;
  tz: string;
  groupBy: readonly Dimension[];
  filters: Partial<Record<Dimension, readonly string[]>>;
  /** Keep only the N groups with the highest cost over the range. */
  top: number | null;
  /** Rows after this key (bucket first, then the group-by values), in answer order. */
  after: readonly (string | null)[] | null;
  limit: number;
  /** Order groups by cost, highest first (breakdowns), instead of by bucket and key (series). */
  byCost: boolean;
}

export interface SeriesRow {
  bucket: string | null;
  keys: Record<string, string | null>;
  sessions: string;
  inputTokens: string;
  outputTokens: string;
  cost: string;
  unpricedTokens: string;
}

const KEY_COLUMN: Record<Dimension, string> = { agent: 's.agent_id', team: 's.team_id', model: 'm.model', status: 's.status' };

/**
 * Usage grouped by time bucket (in `tz`) and any of agent, team, model and status, with filters,
 * top-N and keyset pagination. When a model is grouped on or filtered by, tokens and cost are
 * that model's share of each session (from the row's `models`); otherwise the session totals.
 */
export async function series(pool: Db, tenantId: string, q: SeriesQuery): Promise<{ rows: SeriesRow[]; more: boolean }> {
  const p = new Params();
  const perModel = q.groupBy.includes('model') || (q.filters.model?.length ?? 0) > 0;
  const where = [`s.tenant_id = ${p.add(tenantId)}`, `s.started_at >= ${p.add(q.range.from.toISOString())}`, `s.started_at < ${p.add(q.range.to.toISOString())}`];
  for (const d of DIMENSIONS) {
    const values = q.filters[d];
    if (values && values.length > 0) where.push(`${KEY_COLUMN[d]} = ANY(${p.add(values)}::text[])`);
  }
  const keyCols = q.groupBy.map((d) => `${KEY_COLUMN[d]} AS "${d}"`);
  const bucketCol = q.bucket === null ? 'NULL::timestamptz' : `date_trunc(${p.add(q.bucket)}, s.started_at, ${p.add(q.tz)})`;
  const measures = perModel
    ? `count(DISTINCT s.session_id) AS sessions, sum((m.u ->> 'input')::bigint) AS input_tokens, sum((m.u ->> 'output')::bigint) AS output_tokens,
       sum((m.u ->> 'cost')::numeric) AS cost,
       sum((m.u ->> 'unpriced_tokens')::bigint) AS unpriced_tokens`
    : `count(*) AS sessions, sum(s.input_tokens) AS input_tokens, sum(s.output_tokens) AS output_tokens, sum(s.cost) AS cost,
       sum(s.unpriced_tokens) AS unpriced_tokens`;
  const from = perModel ? 'trace_sessions s CROSS JOIN LATERAL jsonb_each(s.models) AS m(model, u)' : 'trace_sessions s';
  const groupCols = ['1', ...q.groupBy.map((_, i) => String(i + 2))];
  const keyRefs = q.groupBy.map((d) => `g."${d}"`);

  let sql = `WITH g AS (
      SELECT ${bucketCol} AS bucket${keyCols.map((c) => `, ${c}`).join('')}, ${measures}
      FROM ${from} WHERE ${where.join(' AND ')}
      GROUP BY ${groupCols.join(', ')})`;
  let join = '';
  if (q.top !== null && q.groupBy.length > 0) {
    sql += `, t AS (
      SELECT ${q.groupBy.map((d) => `g."${d}"`).join(', ')} FROM g GROUP BY ${keyRefs.join(', ')}
      ORDER BY sum(g.cost) DESC, ${keyRefs.map((k) => `${k} NULLS LAST`).join(', ')} LIMIT ${p.add(q.top)})`;
    join = ` JOIN t ON ${q.groupBy.map((d) => `t."${d}" IS NOT DISTINCT FROM g."${d}"`).join(' AND ')}`;
  }
  // Keyset order: (bucket, keys) for series; (cost desc, keys) for breakdowns. Null keys sort
  // last, compared as the highest text.
  const nk = (ref: string): string => `coalesce(${ref}, chr(1114111))`;
  const orderKeys = q.byCost ? ['-g.cost', ...keyRefs.map(nk)] : ['g.bucket', ...keyRefs.map(nk)];
  let after = '';
  if (q.after !== null) {
    const [first, ...rest] = q.after;
    const left = q.byCost
      ? [`(-g.cost)`, ...keyRefs.map(nk)]
      : ['g.bucket', ...keyRefs.map(nk)];
    const right = q.byCost
      ? [`(-(${p.add(first)})::numeric)`, ...rest.map((v) => `coalesce(${p.add(v)}::text, chr(1114111))`)]
      : [`${p.add(first)}::timestamptz`, ...rest.map((v) => `coalesce(${p.add(v)}::text, chr(1114111))`)];
    after = ` WHERE (${left.join(', ')}) > (${right.join(', ')})`;
  }
  sql += ` SELECT g.bucket, ${q.groupBy.map((d) => `g."${d}"`).join(', ')}${q.groupBy.length > 0 ? ',' : ''}
      g.sessions::text AS sessions, g.input_tokens::text AS input_tokens, g.output_tokens::text AS output_tokens,
      g.cost::text AS cost, g.unpriced_tokens::text AS unpriced_tokens
    FROM g${join}${after}
    ORDER BY ${orderKeys.map((k) => (k.startsWith('-') ? `${k.slice(1)} DESC` : k)).join(', ')}
    LIMIT ${p.add(q.limit + 1)}`;
  const { rows } = await pool.query<Record<string, string | Date | null>>(sql, p.values);
  const more = rows.length > q.limit;
  return {
    more,
    rows: rows.slice(0, q.limit).map((r) => ({
      bucket: r['bucket'] instanceof Date ? r['bucket'].toISOString() : null,
      keys: Object.fromEntries(q.groupBy.map((d) => [d, (r[d] as string | null) ?? null])),
      sessions: String(r['sessions']),
      inputTokens: String(r['input_tokens'] ?? '0'),
      outputTokens: String(r['output_tokens'] ?? '0'),
      cost: String(r['cost'] ?? '0'),
      unpricedTokens: String(r['unpriced_tokens'] ?? '0'),
    })),
  };
}
