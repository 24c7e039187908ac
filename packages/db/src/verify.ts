import type { Pool } from 'pg';

/** One difference between a derived structure and what trace_sessions says it should be. */
export interface Drift {
  check: 'rollup' | 'team-rollup' | 'models';
  tenantId: string;
  key: string;
  expected: string;
  actual: string;
}

/**
 * Recomputes every derived structure from trace_sessions and reports each difference:
 * `session_rollup_hourly` (per tenant, UTC hour and status), `session_rollup_team_hourly` (per
 * tenant, team, hour and status) and each row's per-model usage
 * (whose tokens and cost must add up to the row's). An empty list means nothing has drifted.
 */
export async function verifyDerived(pool: Pool, options: { tenantId?: string } = {}): Promise<Drift[]> {
  const tenant = options.tenantId ?? null;
  const { rows: rollup } = await pool.query<{ tenant_id: string; hour: Date; status: string; expected: string; actual: string }>(
    `WITH expected AS (
       SELECT tenant_id, date_trunc('hour', started_at, 'UTC') AS hour, status, count(*) AS sessions,
              sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens,
              sum(reasoning_tokens) AS reasoning_tokens, sum(cost) AS cost,
              count(*) FILTER (WHERE unpriced_events > 0) AS unpriced_sessions, sum(unpriced_tokens) AS unpriced_tokens
       FROM trace_sessions WHERE $1::text IS NULL OR tenant_id = $1 GROUP BY 1, 2, 3),
     actual AS (
       SELECT tenant_id, hour, status, sessions, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost,
              unpriced_sessions, unpriced_tokens
       FROM session_rollup_hourly
       WHERE ($1::text IS NULL OR tenant_id = $1)
         AND (sessions <> 0 OR input_tokens <> 0 OR output_tokens <> 0 OR cost <> 0 OR unpriced_tokens <> 0))
     SELECT coalesce(e.tenant_id, a.tenant_id) AS tenant_id, coalesce(e.hour, a.hour) AS hour, coalesce(e.status, a.status) AS status,
            row(e.sessions, e.input_tokens, e.output_tokens, e.cached_input_tokens, e.reasoning_tokens, e.cost, e.unpriced_sessions, e.unpriced_tokens)::text AS expected,
            row(a.sessions, a.input_tokens, a.output_tokens, a.cached_input_tokens, a.reasoning_tokens, a.cost, a.unpriced_sessions, a.unpriced_tokens)::text AS actual
     FROM expected e FULL JOIN actual a ON e.tenant_id = a.tenant_id AND e.hour = a.hour AND e.status = a.status
     WHERE row(e.sessions, e.input_tokens, e.output_tokens, e.cached_input_tokens, e.reasoning_tokens, e.cost, e.unpriced_sessions, e.unpriced_tokens)
           IS DISTINCT FROM row(a.sessions, a.input_tokens, a.output_tokens, a.cached_input_tokens, a.reasoning_tokens, a.cost, a.unpriced_sessions, a.unpriced_tokens)
     ORDER BY 1, 2, 3`,
    [tenant],
  );
  const { rows: teamRollup } = await pool.query<{ tenant_id: string; team_id: string; hour: Date; status: string; expected: string; actual: string }>(
    `WITH expected AS (
       SELECT tenant_id, coalesce(team_id, '') AS team_id, date_trunc('hour', started_at, 'UTC') AS hour, status, count(*) AS sessions,
              sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost) AS cost,
              count(*) FILTER (WHERE unpriced_events > 0) AS unpriced_sessions, sum(unpriced_tokens) AS unpriced_tokens
       FROM trace_sessions WHERE $1::text IS NULL OR tenant_id = $1 GROUP BY 1, 2, 3, 4),
     actual AS (
       SELECT tenant_id, team_id, hour, status, sessions, input_tokens, output_tokens, cost, unpriced_sessions, unpriced_tokens
       FROM session_rollup_team_hourly
       WHERE ($1::text IS NULL OR tenant_id = $1)
         AND (sessions <> 0 OR input_tokens <> 0 OR output_tokens <> 0 OR cost <> 0 OR unpriced_tokens <> 0))
     SELECT coalesce(e.tenant_id, a.tenant_id) AS tenant_id, coalesce(e.team_id, a.team_id) AS team_id,
            coalesce(e.hour, a.hour) AS hour, coalesce(e.status, a.status) AS status,
            row(e.sessions, e.input_tokens, e.output_tokens, e.cost, e.unpriced_sessions, e.unpriced_tokens)::text AS expected,
            row(a.sessions, a.input_tokens, a.output_tokens, a.cost, a.unpriced_sessions, a.unpriced_tokens)::text AS actual
     FROM expected e FULL JOIN actual a ON e.tenant_id = a.tenant_id AND e.team_id = a.team_id AND e.hour = a.hour AND e.status = a.status
     WHERE row(e.sessions, e.input_tokens, e.output_tokens, e.cost, e.unpriced_sessions, e.unpriced_tokens)
           IS DISTINCT FROM row(a.sessions, a.input_tokens, a.output_tokens, a.cost, a.unpriced_sessions, a.unpriced_tokens)
     ORDER BY 1, 2, 3, 4`,
    [tenant],
  );
  const { rows: models } = await pool.query<{ tenant_id: string; session_id: string; expected: string; actual: string }>(
    `SELECT s.tenant_id, s.session_id,
            row(s.input_tokens, s.output_tokens, s.cost, s.unpriced_tokens)::text AS expected,
            row(coalesce(sum((m.u ->> 'input')::bigint), 0), coalesce(sum((m.u ->> 'output')::bigint), 0),
                coalesce(sum((m.u ->> 'cost')::numeric), 0)::numeric(30, 9),
                coalesce(sum((m.u ->> 'unpriced_tokens')::bigint), 0))::text AS actual
     FROM trace_sessions s LEFT JOIN LATERAL jsonb_each(s.models) AS m(model, u) ON true
     WHERE $1::text IS NULL OR s.tenant_id = $1
     GROUP BY s.tenant_id, s.session_id, s.input_tokens, s.output_tokens, s.cost, s.unpriced_tokens
     HAVING row(s.input_tokens, s.output_tokens, s.cost, s.unpriced_tokens) IS DISTINCT FROM
            row(coalesce(sum((m.u ->> 'input')::bigint), 0), coalesce(sum((m.u ->> 'output')::bigint), 0),
                coalesce(sum((m.u ->> 'cost')::numeric), 0)::numeric(30, 9),
                coalesce(sum((m.u ->> 'unpriced_tokens')::bigint), 0))`,
    [tenant],
  );
  return [
    ...rollup.map((r) => ({ check: 'rollup' as const, tenantId: r.tenant_id, key: `${r.hour.toISOString()} ${r.status}`, expected: r.expected, actual: r.actual })),
    ...teamRollup.map((r) => ({ check: 'team-rollup' as const, tenantId: r.tenant_id, key: `${r.team_id} ${r.hour.toISOString()} ${r.status}`, expected: r.expected, actual: r.actual })),
    ...models.map((r) => ({ check: 'models' as const, tenantId: r.tenant_id, key: r.session_id, expected: r.expected, actual: r.actual })),
  ];
}
