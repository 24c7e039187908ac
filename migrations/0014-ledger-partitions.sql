-- The ledger partitioned by month, so old months can be archived (docs/scaling.md, "Ledger
-- partitions and retention").
--
-- `applied_events` is partitioned by RANGE on `ledger_month`: the first day (UTC) of the month in
-- which the row's session first reached the ledger, kept in `ledger_sessions.ledger_month`. Every
-- row of a session is in one partition, so a month is archived whole sessions at a time, and a
-- session's recompute reads one partition.
--
-- Exactly once rests on the unique (tenant_id, event_id), which a partitioned table cannot hold
-- (a unique index must contain the partition key). It lives in `applied_event_keys`, a narrow
-- unpartitioned table written in the same statement as the ledger row; its rows go when their
-- month is archived, which is why a month may be archived only after the topic's retention and the
-- dedupe window (LEDGER_DEDUPE_WINDOW_DAYS).

-- Sessions: their month, and whether part of their ledger was archived ("sealed": their row in
-- trace_sessions keeps what the archived rows contributed, so it is never recomputed again).
ALTER TABLE ledger_sessions ADD COLUMN ledger_month date;
ALTER TABLE ledger_sessions ADD COLUMN archived boolean NOT NULL DEFAULT false;
INSERT INTO ledger_sessions (tenant_id, session_id)
SELECT DISTINCT tenant_id, session_id FROM applied_events
ON CONFLICT DO NOTHING;
UPDATE ledger_sessions s SET ledger_month = date_trunc('month', m.first_at AT TIME ZONE 'UTC')::date
FROM (SELECT tenant_id, session_id, min(applied_at) AS first_at FROM applied_events GROUP BY 1, 2) m
WHERE s.tenant_id = m.tenant_id AND s.session_id = m.session_id;
UPDATE ledger_sessions SET ledger_month = date_trunc('month', now() AT TIME ZONE 'UTC')::date WHERE ledger_month IS NULL;

-- Creates the partition of one month if it is missing; returns its name. A month whose rows went
-- to the default partition (no partition existed) is left alone and named in the notice: its rows
-- stay correct where they are, but that month cannot be archived until they are moved.
CREATE FUNCTION tl_ledger_partition(month date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', month)::date;
  name text := format('applied_events_%s', to_char(first, 'YYYY_MM'));
BEGIN
  IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
    RETURN name;
  END IF;
  IF EXISTS (SELECT 1 FROM applied_events_default WHERE ledger_month >= first AND ledger_month < (first + interval '1 month')::date) THEN
    RAISE NOTICE 'ledger rows of % are in applied_events_default; partition % not created', to_char(first, 'YYYY-MM'), name;
    RETURN NULL;
  END IF;
  EXECUTE format('CREATE TABLE public.%I PARTITION OF applied_events FOR VALUES FROM (%L) TO (%L)',
                 name, first, (first + interval '1 month')::date);
  RETURN name;
EXCEPTION
  -- Another process made it at the same moment (two consumers starting together).
  WHEN duplicate_table THEN RETURN name;
  -- Rows of the month reached the default partition after the check above.
  WHEN check_violation THEN
    RAISE NOTICE 'ledger rows of % are in applied_events_default; partition % not created', to_char(first, 'YYYY-MM'), name;
    RETURN NULL;
END
$$;

ALTER TABLE applied_events RENAME TO applied_events_unpartitioned;
ALTER INDEX applied_events_session RENAME TO applied_events_unpartitioned_session;
ALTER INDEX applied_events_voids RENAME TO applied_events_unpartitioned_voids;
ALTER TABLE applied_events_unpartitioned RENAME CONSTRAINT applied_events_pkey TO applied_events_unpartitioned_pkey;

CREATE TABLE applied_events (
  LIKE applied_events_unpartitioned INCLUDING DEFAULTS,
  ledger_month date NOT NULL
) PARTITION BY RANGE (ledger_month);
CREATE TABLE applied_events_default PARTITION OF applied_events DEFAULT;

-- A session's rows (recompute, verify), and one row by its key (marks, sources, backfill close and
-- revert, reprice, the replay swap: each knows the event's session from applied_event_keys or a
-- membership), without reading the rest of a long session. Voids waiting for the event they name:
-- the fold's probe.
CREATE INDEX applied_events_session ON applied_events (tenant_id, session_id, event_id);
CREATE INDEX applied_events_voids ON applied_events (tenant_id, voids_event_id) WHERE type = 'event.voided';

-- Every month that has sessions, and this month and the next two (the consumer creates later ones).
SELECT tl_ledger_partition(m::date)
FROM (SELECT DISTINCT ledger_month AS m FROM ledger_sessions
      UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + i * interval '1 month')::date FROM generate_series(0, 2) AS i) months
ORDER BY 1;

INSERT INTO applied_events
SELECT a.*, s.ledger_month
FROM applied_events_unpartitioned a JOIN ledger_sessions s ON s.tenant_id = a.tenant_id AND s.session_id = a.session_id;

CREATE TABLE applied_event_keys (
  tenant_id     text NOT NULL,
  event_id      text COLLATE "C" NOT NULL,
  -- Where the event's ledger row is.
  session_id    text NOT NULL,
  ledger_month  date NOT NULL,
  PRIMARY KEY (tenant_id, event_id)
);
INSERT INTO applied_event_keys (tenant_id, event_id, session_id, ledger_month)
SELECT tenant_id, event_id, session_id, ledger_month FROM applied_events;

DROP TABLE applied_events_unpartitioned;

-- Months archived: what went where, for the operator and for the dedupe window's audit.
CREATE TABLE ledger_archives (
  ledger_month  date PRIMARY KEY,
  events        bigint NOT NULL,
  sessions      bigint NOT NULL,
  destination   text,
  archived_at   timestamptz NOT NULL DEFAULT now()
);
