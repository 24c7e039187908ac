-- The ledger's rules (docs/architecture.md, "The ledger and what counts" and "One concurrency rule").

-- Sources of a ledger row: `live` (a record without a backfill header reached it) and its backfill
-- memberships (backfill_events), so one event id that arrives live and through a backfill is one
-- event that a revert keeps.
ALTER TABLE applied_events ADD COLUMN live boolean NOT NULL DEFAULT true;
UPDATE applied_events SET live = false WHERE backfill_id IS NOT NULL;

CREATE TABLE backfill_events (
  backfill_id text NOT NULL,
  tenant_id   text NOT NULL,
  event_id    text COLLATE "C" NOT NULL,
  session_id  text NOT NULL,
  PRIMARY KEY (backfill_id, tenant_id, event_id)
);
CREATE INDEX backfill_events_event ON backfill_events (tenant_id, event_id);
CREATE INDEX backfill_events_session ON backfill_events (tenant_id, session_id);
INSERT INTO backfill_events (backfill_id, tenant_id, event_id, session_id)
SELECT backfill_id, tenant_id, event_id, session_id FROM applied_events WHERE backfill_id IS NOT NULL;
DROP INDEX applied_events_backfill;
ALTER TABLE applied_events DROP COLUMN backfill_id;

-- Replacement is its own column (it was a 'replaced-by:<backfill>' prefix inside voided_by).
ALTER TABLE applied_events ADD COLUMN replaced_by text;
UPDATE applied_events SET replaced_by = substr(voided_by, length('replaced-by:') + 1), voided_by = NULL
WHERE voided_by LIKE 'replaced-by:%';

-- The order backfills were closed in: a session's owner is the replace-mode backfill closed last.
CREATE SEQUENCE backfill_close_seq;
ALTER TABLE backfills ADD COLUMN closed_seq bigint;
UPDATE backfills b SET closed_seq = o.seq
FROM (SELECT backfill_id, row_number() OVER (ORDER BY closed_at, backfill_id) AS seq FROM backfills WHERE state = 'closed') o
WHERE b.backfill_id = o.backfill_id;
SELECT setval('backfill_close_seq', coalesce((SELECT max(closed_seq) FROM backfills), 0) + 1, false);

-- One row per session: the lock every ledger transaction takes (in key order) before it reads or
-- writes the session's ledger rows, and the session's owner (a closed replace-mode backfill).
CREATE TABLE ledger_sessions (
  tenant_id   text COLLATE "C" NOT NULL,
  session_id  text COLLATE "C" NOT NULL,
  owner       text,
  -- Transactions that locked the session: a cheap way to see that one happened.
  changes     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, session_id)
);
INSERT INTO ledger_sessions (tenant_id, session_id)
SELECT DISTINCT tenant_id, session_id FROM applied_events;
UPDATE ledger_sessions s SET owner = o.backfill_id
FROM (
  SELECT DISTINCT ON (e.tenant_id, e.session_id) e.tenant_id, e.session_id, b.backfill_id
  FROM backfill_events e JOIN backfills b ON b.backfill_id = e.backfill_id
  WHERE b.replace_mode AND b.state = 'closed'
  ORDER BY e.tenant_id, e.session_id, b.closed_seq DESC
) o
WHERE s.tenant_id = o.tenant_id AND s.session_id = o.session_id;

-- The price book's generation: bumped (under the exclusive price-book lock) whenever a version is
-- stored, so a fold knows, after taking the shared lock, whether its book is current.
CREATE TABLE price_book_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  generation  bigint NOT NULL DEFAULT 0
);
INSERT INTO price_book_state DEFAULT VALUES;

-- Sums that cannot overflow for any input the contract accepts (docs/contract.md, "Bounds"):
-- tokens are numeric(38,0) in sessions and rollups (an event carries at most 10^12 of each kind,
-- so 10^26 events would be needed), counts are bigint.
ALTER TABLE trace_sessions
  ALTER COLUMN input_tokens TYPE numeric(38, 0),
  ALTER COLUMN output_tokens TYPE numeric(38, 0),
  ALTER COLUMN cached_input_tokens TYPE numeric(38, 0),
  ALTER COLUMN reasoning_tokens TYPE numeric(38, 0),
  ALTER COLUMN unpriced_tokens TYPE numeric(38, 0),
  ALTER COLUMN unpriced_events TYPE bigint,
  ALTER COLUMN tool_calls TYPE bigint,
  ALTER COLUMN event_count TYPE bigint;
ALTER TABLE session_rollup_hourly
  ALTER COLUMN input_tokens TYPE numeric(38, 0),
  ALTER COLUMN output_tokens TYPE numeric(38, 0),
  ALTER COLUMN cached_input_tokens TYPE numeric(38, 0),
  ALTER COLUMN reasoning_tokens TYPE numeric(38, 0),
  ALTER COLUMN unpriced_tokens TYPE numeric(38, 0);
ALTER TABLE session_rollup_team_hourly
  ALTER COLUMN input_tokens TYPE numeric(38, 0),
  ALTER COLUMN output_tokens TYPE numeric(38, 0),
  ALTER COLUMN cached_input_tokens TYPE numeric(38, 0),
  ALTER COLUMN reasoning_tokens TYPE numeric(38, 0),
  ALTER COLUMN unpriced_tokens TYPE numeric(38, 0);

-- Per-model usage adds as numeric too; mirrors mergeModels in packages/core/src/fold.ts.
CREATE OR REPLACE FUNCTION tl_merge_models(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(k, jsonb_build_object(
    'input',           coalesce((a -> k ->> 'input')::numeric, 0)           + coalesce((b -> k ->> 'input')::numeric, 0),
    'output',          coalesce((a -> k ->> 'output')::numeric, 0)          + coalesce((b -> k ->> 'output')::numeric, 0),
    'cached',          coalesce((a -> k ->> 'cached')::numeric, 0)          + coalesce((b -> k ->> 'cached')::numeric, 0),
    'reasoning',       coalesce((a -> k ->> 'reasoning')::numeric, 0)       + coalesce((b -> k ->> 'reasoning')::numeric, 0),
    'cost',            (coalesce((a -> k ->> 'cost')::numeric, 0)          + coalesce((b -> k ->> 'cost')::numeric, 0))::text,
    'events',          coalesce((a -> k ->> 'events')::numeric, 0)          + coalesce((b -> k ->> 'events')::numeric, 0),
    'unpriced',        coalesce((a -> k ->> 'unpriced')::numeric, 0)        + coalesce((b -> k ->> 'unpriced')::numeric, 0),
    'unpriced_tokens', coalesce((a -> k ->> 'unpriced_tokens')::numeric, 0) + coalesce((b -> k ->> 'unpriced_tokens')::numeric, 0)
  )), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
$$;

-- Rollups: statement triggers collect each statement's signed deltas; they are applied to the
-- rollups by tl_rollup_flush(), one upsert per rollup in key order. A ledger transaction sets
-- traceledger.defer_rollup = on and flushes once just before COMMIT, so it takes rollup buckets
-- last and in one sorted pass (the concurrency rule); any other writer is flushed per statement.
CREATE FUNCTION tl_rollup_pending_table() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS tl_rollup_pending (
    tenant_id text, team_id text, hour timestamptz, status text, sessions bigint, input_tokens numeric,
    output_tokens numeric, cached_input_tokens numeric, reasoning_tokens numeric, cost numeric,
    unpriced_sessions bigint, unpriced_tokens numeric
  ) ON COMMIT DELETE ROWS;
END
$$;

CREATE FUNCTION tl_rollup_flush() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tl_rollup_pending_table();
  INSERT INTO session_rollup_hourly AS r (tenant_id, hour, status, sessions, input_tokens, output_tokens,
      cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
  SELECT tenant_id, hour, status, sum(sessions), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
         sum(reasoning_tokens), sum(cost), sum(unpriced_sessions), sum(unpriced_tokens)
  FROM tl_rollup_pending GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (tenant_id, hour, status) DO UPDATE SET
    sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
    unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  INSERT INTO session_rollup_team_hourly AS r (tenant_id, team_id, hour, status, sessions, input_tokens, output_tokens,
      cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens)
  SELECT tenant_id, team_id, hour, status, sum(sessions), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
         sum(reasoning_tokens), sum(cost), sum(unpriced_sessions), sum(unpriced_tokens)
  FROM tl_rollup_pending GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (tenant_id, team_id, hour, status) DO UPDATE SET
    sessions = r.sessions + EXCLUDED.sessions, input_tokens = r.input_tokens + EXCLUDED.input_tokens,
    output_tokens = r.output_tokens + EXCLUDED.output_tokens, cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens, cost = r.cost + EXCLUDED.cost,
    unpriced_sessions = r.unpriced_sessions + EXCLUDED.unpriced_sessions, unpriced_tokens = r.unpriced_tokens + EXCLUDED.unpriced_tokens;
  DELETE FROM tl_rollup_pending;
END
$$;

CREATE OR REPLACE FUNCTION tl_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tl_rollup_pending_table();
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO tl_rollup_pending
    SELECT tenant_id, coalesce(team_id, ''), date_trunc('hour', started_at, 'UTC'), status, 1, input_tokens, output_tokens,
           cached_input_tokens, reasoning_tokens, cost, (unpriced_events > 0)::int, unpriced_tokens
    FROM new_rows;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO tl_rollup_pending
    SELECT tenant_id, coalesce(team_id, ''), date_trunc('hour', started_at, 'UTC'), status, -1, -input_tokens, -output_tokens,
           -cached_input_tokens, -reasoning_tokens, -cost, -(unpriced_events > 0)::int, -unpriced_tokens
    FROM old_rows;
  END IF;
  IF coalesce(current_setting('traceledger.defer_rollup', true), '') <> 'on' THEN
    PERFORM tl_rollup_flush();
  END IF;
  RETURN NULL;
END
$$;
