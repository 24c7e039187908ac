-- Indexes for the ledger's lookups.
--
-- Each new event asks whether a void recorded before names it: a probe of this (small, voids
-- only) index instead of a scan of the whole ledger.
CREATE INDEX applied_events_voids ON applied_events (tenant_id, voids_event_id) WHERE type = 'event.voided';

-- One index on backfill members, keyed by event: the fold and recompute look memberships up by
-- event (every staged record pays for each index); a backfill's members are read only by close,
-- revert and status, which can afford to scan.
DROP INDEX backfill_events_session;
DROP INDEX backfill_events_event;
ALTER TABLE backfill_events DROP CONSTRAINT backfill_events_pkey;
ALTER TABLE backfill_events ADD PRIMARY KEY (tenant_id, event_id, backfill_id);
