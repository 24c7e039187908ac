-- Per-team totals per UTC hour and status, kept by the same triggers as the tenant rollup (in the
-- same transaction as every trace_sessions change), so a team's 30-day totals read ~720 rows
-- instead of every session (docs/query-performance.md). A session without a team is under ''.
CREATE TABLE session_rollup_team_hourly (
  tenant_id           text        NOT NULL,
  team_id             text        NOT NULL,
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
  PRIMARY KEY (tenant_id, team_id, hour, status)
);

INSERT INTO session_rollup_team_hourly (tenant_id, team_id, hour, status, sessions, input_tokens, output_tokens,
    cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
SELECT tenant_id, coalesce(team_id, ''), date_trunc('hour', started_at, 'UTC'), status, count(*), sum(input_tokens),
       sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens), sum(cost),
       count(*) FILTER (WHERE unpriced_events > 0), sum(unpriced_tokens)
FROM trace_sessions GROUP BY 1, 2, 3, 4;

-- The trigger function now maintains both rollups from one signed delta set per statement.
CREATE OR REPLACE FUNCTION tl_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS tl_rollup_delta (
    tenant_id text, team_id text, hour timestamptz, status text, sessions bigint, input_tokens bigint,
    output_tokens bigint, cached_input_tokens bigint, reasoning_tokens bigint, cost numeric,
    unpriced_sessions bigint, unpriced_tokens bigint
  ) ON COMMIT DELETE ROWS;
  DELETE FROM tl_rollup_delta;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO tl_rollup_delta
    SELECT tenant_id, coalesce(team_id, ''), date_trunc('hour', started_at, 'UTC'), status, 1, input_tokens, output_tokens,
           cached_input_tokens, reasoning_tokens, cost, (unpriced_events > 0)::int, unpriced_tokens
    FROM new_rows;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO tl_rollup_delta
    SELECT tenant_id, coalesce(team_id, ''), date_trunc('hour', started_at, 'UTC'), status, -1, -input_tokens, -output_tokens,
           -cached_input_tokens, -reasoning_tokens, -cost, -(unpriced_events > 0)::int, -unpriced_tokens
    FROM old_rows;
  END IF;

  INSERT INTO session_rollup_hourly AS r (tenant_id, hour, status, sessions, input_tokens, output_tokens,
      cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
  SELECT tenant_id, hour, status, sum(sessions), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
         sum(reasoning_tokens), sum(cost), sum(unpriced_sessions), sum(unpriced_tokens)
  FROM tl_rollup_delta GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (tenant_id, hour, status) DO UPDATE SET
    sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
    unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;

  INSERT INTO session_rollup_team_hourly AS r (tenant_id, team_id, hour, status, sessions, input_tokens, output_tokens,
      cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
  SELECT tenant_id, team_id, hour, status, sum(sessions), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
         sum(reasoning_tokens), sum(cost), sum(unpriced_sessions), sum(unpriced_tokens)
  FROM tl_rollup_delta GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (tenant_id, team_id, hour, status) DO UPDATE SET
    sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
    unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  RETURN NULL;
END
$$;

GRANT SELECT ON session_rollup_team_hourly TO traceledger_query;
ALTER TABLE session_rollup_team_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON session_rollup_team_hourly FOR SELECT TO traceledger_query
  USING (tenant_id = current_setting('traceledger.tenant_id', true));
