import type { Pool } from '@traceledger/db';
import type { TimeRange } from '@traceledger/core';

/**
 * Every read of the query service, each a single statement over trace_sessions alone: billing
 * and analytics cannot disagree because there is nothing else to read. Sums come back as
 * Postgres numeric text and stay exact until they are written into the JSON answer.
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
}

export interface BillingRow {
  totalCost: string;
  totalTokens: string;
  activeAgents: string;
  costThisMonth: string;
  costLastMonth: string;
}

export interface DayRow {
  day: string;
  sessions: string;
  inputTokens: string;
  outputTokens: string;
  cost: string;
}

export type Scope = { kind: 'tenant' } | { kind: 'agent'; agentId: string } | { kind: 'team'; teamId: string };

const TOTALS_SELECT = `
  count(*)::text AS sessions,
  count(*) FILTER (WHERE status = 'running')::text AS running,
  count(*) FILTER (WHERE status = 'success')::text AS success,
  count(*) FILTER (WHERE status = 'error')::text AS error,
  count(*) FILTER (WHERE status = 'timeout')::text AS timeout,
  count(*) FILTER (WHERE status = 'cancelled')::text AS cancelled,
  coalesce(sum(input_tokens), 0)::text AS "inputTokens",
  coalesce(sum(output_tokens), 0)::text AS "outputTokens",
  coalesce(sum(cost), 0)::text AS cost,
  count(*) FILTER (WHERE unpriced_events > 0)::text AS "unpricedSessions",
  coalesce(sum(unpriced_tokens), 0)::text AS "unpricedTokens"`;

function scopeFilter(scope: Scope, params: unknown[]): string {
  if (scope.kind === 'agent') {
    params.push(scope.agentId);
    return ` AND agent_id = $${params.length}`;
  }
  if (scope.kind === 'team') {
    params.push(scope.teamId);
    return ` AND team_id = $${params.length}`;
  }
  return '';
}

function rangeFilter(range: TimeRange, params: unknown[]): string {
  params.push(range.to.toISOString());
  let sql = ` AND started_at < $${params.length}`;
  if (range.from !== null) {
    params.push(range.from.toISOString());
    sql += ` AND started_at >= $${params.length}`;
  }
  return sql;
}

/** Totals of one tenant (or one of its agents or teams) over a time range of session starts. */
export async function totals(pool: Pool, tenantId: string, scope: Scope, range: TimeRange): Promise<Totals & DurationStats> {
  const params: unknown[] = [tenantId];
  const where = `tenant_id = $1${scopeFilter(scope, params)}${rangeFilter(range, params)}`;
  const { rows } = await pool.query<Totals & DurationStats>(
    `SELECT ${TOTALS_SELECT},
       round(avg(duration_ms))::text AS "avgMs",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms))::bigint::text AS "p50Ms",
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms))::bigint::text AS "p95Ms"
     FROM trace_sessions WHERE ${where}`,
    params,
  );
  return rows[0] as Totals & DurationStats;
}

/** Whether the tenant has ever had a session of this agent or team (404 otherwise). */
export async function scopeExists(pool: Pool, tenantId: string, scope: Scope): Promise<boolean> {
  const params: unknown[] = [tenantId];
  const { rows } = await pool.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM trace_sessions WHERE tenant_id = $1${scopeFilter(scope, params)}) AS found`,
    params,
  );
  return rows[0]?.found === true;
}

/**
 * The billing summary of a tenant: all-time cost and tokens, and cost by calendar month (UTC)
 * of session start. Active agents: distinct agents with a session started this month.
 */
export async function billingSummary(
  pool: Pool,
  tenantId: string,
  months: { thisMonth: { from: Date; to: Date }; lastMonth: { from: Date; to: Date } },
): Promise<BillingRow> {
  const { rows } = await pool.query<BillingRow>(
    `SELECT coalesce(sum(cost), 0)::text AS "totalCost",
            coalesce(sum(input_tokens + output_tokens), 0)::text AS "totalTokens",
            count(DISTINCT agent_id) FILTER (WHERE started_at >= $2 AND started_at < $3)::text AS "activeAgents",
            coalesce(sum(cost) FILTER (WHERE started_at >= $2 AND started_at < $3), 0)::text AS "costThisMonth",
            coalesce(sum(cost) FILTER (WHERE started_at >= $4 AND started_at < $2), 0)::text AS "costLastMonth"
     FROM trace_sessions WHERE tenant_id = $1`,
    [tenantId, months.thisMonth.from.toISOString(), months.thisMonth.to.toISOString(), months.lastMonth.from.toISOString()],
  );
  return rows[0] as BillingRow;
}

/** Per-day (UTC) sessions, tokens and cost of one agent over [from, to); days without sessions are absent. */
export async function agentDays(pool: Pool, tenantId: string, agentId: string, range: { from: Date; to: Date }): Promise<DayRow[]> {
  const { rows } = await pool.query<DayRow>(
    `SELECT to_char(date_trunc('day', started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day,
            count(*)::text AS sessions,
            coalesce(sum(input_tokens), 0)::text AS "inputTokens",
            coalesce(sum(output_tokens), 0)::text AS "outputTokens",
            coalesce(sum(cost), 0)::text AS cost
     FROM trace_sessions
     WHERE tenant_id = $1 AND agent_id = $2 AND started_at >= $3 AND started_at < $4
     GROUP BY 1 ORDER BY 1`,
    [tenantId, agentId, range.from.toISOString(), range.to.toISOString()],
  );
  return rows;
}
