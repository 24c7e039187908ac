-- One index on backfill members, keyed by event: the fold and recompute look memberships up by
-- event (every staged record pays for each index); a backfill's members are read only by close,
-- revert and status, which can afford to scan.
DROP INDEX backfill_events_session;
DROP INDEX backfill_events_event;
ALTER TABLE backfill_events DROP CONSTRAINT backfill_events_pkey;
ALTER TABLE backfill_events ADD PRIMARY KEY (tenant_id, event_id, backfill_id);
