-- Staged imports of historical events (bin/traceledger backfill ...). Events of a backfill are
-- recorded in applied_events (so they are deduplicated like any event) but marked staged: they
-- count nowhere until the backfill is closed, and a revert removes them entirely.
CREATE TABLE backfills (
  backfill_id     text        PRIMARY KEY,
  tenant_id       text        NOT NULL,
  label           text,
  replace_mode    boolean     NOT NULL DEFAULT false,
  state           text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'reverted')),
  -- The loader's checkpoint: lines of the source file acknowledged by Kafka so far.
  source          text,
  lines_done      bigint      NOT NULL DEFAULT 0,
  events_sent     bigint      NOT NULL DEFAULT 0,
  rejected_lines  bigint      NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  closed_at       timestamptz,
  reverted_at     timestamptz
);

-- No foreign key: a record naming an unknown backfill stays staged (it can never count) instead
-- of failing the batch it arrived in.
ALTER TABLE applied_events ADD COLUMN backfill_id text;
-- True while the event's backfill is open: the event is known (deduplicated) but not counted.
ALTER TABLE applied_events ADD COLUMN staged boolean NOT NULL DEFAULT false;
CREATE INDEX applied_events_backfill ON applied_events (backfill_id) WHERE backfill_id IS NOT NULL;
