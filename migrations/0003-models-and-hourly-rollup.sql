-- Per-model usage of each session, kept on its trace_sessions row (so answers grouped by model
-- still read that one table): {"gpt-4o": {"input": n, "output": n, "cached": n, "reasoning": n,
-- "cost": "0.001", "events": n, "unpriced": n}}.
ALTER TABLE trace_sessions ADD COLUMN models jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Adds two per-model usage objects key by key; mirrors mergeModels in packages/core/src/fold.ts.
CREATE FUNCTION tl_merge_models(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(k, jsonb_build_object(
    'input',     coalesce((a -> k ->> 'input')::bigint, 0)     + coalesce((b -> k ->> 'input')::bigint, 0),
    'output',    coalesce((a -> k ->> 'output')::bigint, 0)    + coalesce((b -> k ->> 'output')::bigint, 0),
    'cached',    coalesce((a -> k ->> 'cached')::bigint, 0)    + coalesce((b -> k ->> 'cached')::bigint, 0),
    'reasoning', coalesce((a -> k ->> 'reasoning')::bigint, 0) + coalesce((b -> k ->> 'reasoning')::bigint, 0),
    'cost',      (coalesce((a -> k ->> 'cost')::numeric, 0)    + coalesce((b -> k ->> 'cost')::numeric, 0))::text,
    'events',    coalesce((a -> k ->> 'events')::bigint, 0)    + coalesce((b -> k ->> 'events')::bigint, 0),
    'unpriced',  coalesce((a -> k ->> 'unpriced')::bigint, 0)  + coalesce((b -> k ->> 'unpriced')::bigint, 0)
  )), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
$$;

-- Tenant totals per UTC hour of session start and status: a summary of trace_sessions, never a
-- second source. Maintained by the triggers below in the same transaction as every change to
-- trace_sessions, whoever makes it; `npm run verify` recomputes it and reports any difference.
-- Queries add exact edges from trace_sessions for ranges that do not start or end on an hour.
CREATE TABLE session_rollup_hourly (
  tenant_id           text        NOT NULL,
  hour                timestamptz NOT NULL,
  status              text        NOT NULL,
  sessions            bigint      NOT NULL DEFAULT 0,
  input_tokens        bigint      NOT NULL DEFAULT 0,
  output_tokens       bigint      NOT NULL DEFAULT 0,
  cached_input_tokens bigint      NOT NULL DEFAULT 0,
  reasoning_tokens    bigint      NOT NULL DEFAULT 0,
  cost                numeric(30, 9) NOT NULL DEFAULT 0,
  unpriced_sessions   bigint      NOT NULL DEFAULT 0,
  unpriced_tokens     bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, hour, status)
);

-- Applies the difference between the old and new rows of one statement, one upsert per bucket,
-- buckets in key order (concurrent transactions lock them in the same order).
CREATE FUNCTION tl_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO session_rollup_hourly AS r (tenant_id, hour, status, sessions, input_tokens, output_tokens,
        cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
    SELECT tenant_id, date_trunc('hour', started_at, 'UTC'), status, count(*), sum(input_tokens), sum(output_tokens),
           sum(cached_input_tokens), sum(reasoning_tokens), sum(cost), count(*) FILTER (WHERE unpriced_events > 0), sum(unpriced_tokens)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, hour, status) DO UPDATE SET
      sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
      output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
      reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
      unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO session_rollup_hourly AS r (tenant_id, hour, status, sessions, input_tokens, output_tokens,
        cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
    SELECT tenant_id, hour, status, sum(sessions), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
           sum(reasoning_tokens), sum(cost), sum(unpriced_sessions), sum(unpriced_tokens)
    FROM (
      SELECT tenant_id, date_trunc('hour', started_at, 'UTC') AS hour, status, 1 AS sessions, input_tokens, output_tokens,
             cached_input_tokens, reasoning_tokens, cost, (unpriced_events > 0)::int AS unpriced_sessions, unpriced_tokens
      FROM new_rows
      UNION ALL
      SELECT tenant_id, date_trunc('hour', started_at, 'UTC'), status, -1, -input_tokens, -output_tokens,
             -cached_input_tokens, -reasoning_tokens, -cost, -(unpriced_events > 0)::int, -unpriced_tokens
      FROM old_rows
    ) d
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, hour, status) DO UPDATE SET
      sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
      output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
      reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
      unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  ELSE
    INSERT INTO session_rollup_hourly AS r (tenant_id, hour, status, sessions, input_tokens, output_tokens,
        cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
    SELECT tenant_id, date_trunc('hour', started_at, 'UTC'), status, -count(*), -sum(input_tokens), -sum(output_tokens),
           -sum(cached_input_tokens), -sum(reasoning_tokens), -sum(cost), -count(*) FILTER (WHERE unpriced_events > 0), -sum(unpriced_tokens)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, hour, status) DO UPDATE SET
      sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
      output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
      reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
      unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  END IF;
  RETURN NULL;
END
$$;

-- Existing rows: per-model usage from the ledger, then the rollup, before the triggers exist.
UPDATE trace_sessions s SET models = m.models
FROM (
  SELECT tenant_id, session_id, jsonb_object_agg(model, jsonb_build_object(
           'input', input, 'output', output, 'cached', cached, 'reasoning', reasoning,
           'cost', cost::text, 'events', events, 'unpriced', unpriced)) AS models
  FROM (
    SELECT tenant_id, session_id, coalesce(model, '(unknown)') AS model, sum(input_tokens) AS input,
           sum(output_tokens) AS output, sum(cached_input_tokens) AS cached, sum(reasoning_tokens) AS reasoning,
           coalesce(sum(cost), 0) AS cost, count(*) AS events, count(*) FILTER (WHERE cost IS NULL) AS unpriced
    FROM applied_events
    WHERE type = 'llm.usage' AND voided_by IS NULL
    GROUP BY 1, 2, 3
  ) per_model
  GROUP BY 1, 2
) m
WHERE s.tenant_id = m.tenant_id AND s.session_id = m.session_id;

INSERT INTO session_rollup_hourly (tenant_id, hour, status, sessions, input_tokens, output_tokens, cached_input_tokens,
    reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
SELECT tenant_id, date_trunc('hour', started_at, 'UTC'), status, count(*), sum(input_tokens), sum(output_tokens),
       sum(cached_input_tokens), sum(reasoning_tokens), sum(cost), count(*) FILTER (WHERE unpriced_events > 0), sum(unpriced_tokens)
FROM trace_sessions GROUP BY 1, 2, 3;

CREATE TRIGGER trace_sessions_rollup_insert AFTER INSERT ON trace_sessions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tl_rollup_apply();
CREATE TRIGGER trace_sessions_rollup_update AFTER UPDATE ON trace_sessions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tl_rollup_apply();
CREATE TRIGGER trace_sessions_rollup_delete AFTER DELETE ON trace_sessions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tl_rollup_apply();

-- Covering indexes for the dashboard queries (see docs/query-performance.md): a scoped range
-- query reads only the index when the visibility map allows.
DROP INDEX trace_sessions_tenant_started;
DROP INDEX trace_sessions_tenant_agent_started;
DROP INDEX trace_sessions_tenant_team_started;
CREATE INDEX trace_sessions_tenant_started ON trace_sessions (tenant_id, started_at)
  INCLUDE (status, input_tokens, output_tokens, cost, unpriced_events, unpriced_tokens, agent_id, team_id);
CREATE INDEX trace_sessions_tenant_agent_started ON trace_sessions (tenant_id, agent_id, started_at)
  INCLUDE (status, input_tokens, output_tokens, cost, duration_ms, unpriced_events, unpriced_tokens);
CREATE INDEX trace_sessions_tenant_team_started ON trace_sessions (tenant_id, team_id, started_at)
  INCLUDE (status, input_tokens, output_tokens, cost, duration_ms, unpriced_events, unpriced_tokens);
