import type { Pool, PoolClient } from 'pg';
import type { PriceOf } from '@traceledger/core';
import { applyEvents, recomputeSessions, type SourcedEvent } from './fold-store.js';
import { createPool } from './pool.js';

/** The schema a replay folds into; dropped and made anew by every replay. */
export const SHADOW_SCHEMA = 'tl_replay';

/**
 * Makes an empty shadow ledger and session table (same columns, defaults, generated columns,
 * constraints and indexes as the live ones; no triggers, no row security) and returns a pool
 * whose connections resolve unqualified table names to the shadow first, so the fold's own code
 * writes into it. Anything left by an interrupted replay is dropped first.
 */
export async function prepareShadow(pool: Pool, databaseUrl: string): Promise<Pool> {
  await pool.query(`DROP SCHEMA IF EXISTS ${SHADOW_SCHEMA} CASCADE`);
  await pool.query(`CREATE SCHEMA ${SHADOW_SCHEMA}`);
  await pool.query(`CREATE TABLE ${SHADOW_SCHEMA}.applied_events (LIKE public.applied_events INCLUDING ALL)`);
  await pool.query(`CREATE TABLE ${SHADOW_SCHEMA}.trace_sessions (LIKE public.trace_sessions INCLUDING ALL)`);
  return createPool(databaseUrl, { max: 2, applicationName: 'traceledger-replay', serverOptions: `-c search_path=${SHADOW_SCHEMA},public` });
}

/** Folds replayed events into the shadow (the same fold as the live consumer). */
export async function foldIntoShadow(shadow: Pool, batch: readonly SourcedEvent[], priceOf: PriceOf): Promise<void> {
  await applyEvents(shadow, batch, priceOf);
}

export interface SwapResult {
  /** Ledger rows re-derived from the topic. */
  events: number;
  /** Sessions recomputed. */
  sessions: number;
}

/**
 * Swaps the replayed data in, in one transaction that readers see all at once: every live
 * ledger row the replay re-derived is replaced by its new version (what the live consumer folded
 * that the replay did not read stays), backfill states and replacements are carried over, voids
 * are re-applied, and every affected session is recomputed from the ledger; the rollups follow
 * through their triggers. The live consumer waits on the ledger lock during the swap and then
 * goes on. The shadow is dropped.
 */
export async function swapReplay(pool: Pool): Promise<SwapResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Serialises with the live consumer's inserts for the few moments of the swap.
    await client.query('LOCK TABLE public.applied_events IN SHARE ROW EXCLUSIVE MODE');
    const { rows: sessions } = await client.query<{ tenant_id: string; session_id: string }>(
      `SELECT DISTINCT tenant_id, session_id FROM ${SHADOW_SCHEMA}.applied_events ORDER BY 1, 2`,
    );
    const { rowCount: replaced } = await client.query(
      `WITH incoming AS (
         -- Events of a backfill reverted since they were published are not brought back.
         SELECT r.*, b.state AS backfill_state FROM ${SHADOW_SCHEMA}.applied_events r
         LEFT JOIN public.backfills b ON b.backfill_id = r.backfill_id
         WHERE b.state IS DISTINCT FROM 'reverted'),
       old AS (
         DELETE FROM public.applied_events a USING incoming r
         WHERE a.tenant_id = r.tenant_id AND a.event_id = r.event_id
         RETURNING a.tenant_id, a.event_id, a.voided_by, a.applied_at)
       INSERT INTO public.applied_events (tenant_id, event_id, session_id, type, occurred_at, agent_id, team_id, provider,
           model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, reported_cost, cost, cost_source,
           price_version, status, voids_event_id, voided_by, source_partition, source_offset, applied_at, backfill_id, staged)
       SELECT r.tenant_id, r.event_id, r.session_id, r.type, r.occurred_at, r.agent_id, r.team_id, r.provider,
              r.model, r.input_tokens, r.output_tokens, r.cached_input_tokens, r.reasoning_tokens, r.reported_cost, r.cost, r.cost_source,
              r.price_version, r.status, r.voids_event_id,
              -- Replacements by closed backfills stay; voids are re-applied below.
              CASE WHEN old.voided_by LIKE 'replaced-by:%' THEN old.voided_by END,
              r.source_partition, r.source_offset, coalesce(old.applied_at, r.applied_at), r.backfill_id,
              coalesce(r.backfill_state = 'open', false)
       FROM incoming r LEFT JOIN old ON old.tenant_id = r.tenant_id AND old.event_id = r.event_id`,
    );
    await reapplyVoids(client, sessions);
    await recomputeSessions(client, sessions.map((s) => ({ tenantId: s.tenant_id, sessionId: s.session_id })));
    await client.query(`DROP SCHEMA ${SHADOW_SCHEMA} CASCADE`);
    await client.query('COMMIT');
    return { events: replaced ?? 0, sessions: sessions.length };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Clears and re-applies the void marks of the given sessions from their (non-staged) voids. */
async function reapplyVoids(client: PoolClient, sessions: readonly { tenant_id: string; session_id: string }[]): Promise<void> {
  const keys = JSON.stringify(sessions);
  await client.query(
    `UPDATE public.applied_events a SET voided_by = NULL
     FROM jsonb_to_recordset($1::jsonb) AS s(tenant_id text, session_id text)
     WHERE a.tenant_id = s.tenant_id AND a.session_id = s.session_id AND a.voided_by IS NOT NULL AND a.voided_by NOT LIKE 'replaced-by:%'`,
    [keys],
  );
  await client.query(
    `UPDATE public.applied_events a SET voided_by = v.event_id
     FROM (
       SELECT DISTINCT ON (v.tenant_id, v.voids_event_id) v.tenant_id, v.session_id, v.voids_event_id, v.event_id
       FROM public.applied_events v JOIN jsonb_to_recordset($1::jsonb) AS s(tenant_id text, session_id text)
         ON v.tenant_id = s.tenant_id AND v.session_id = s.session_id
       WHERE v.type = 'event.voided' AND NOT v.staged AND v.voided_by IS NULL
       ORDER BY v.tenant_id, v.voids_event_id, v.event_id) v
     WHERE a.tenant_id = v.tenant_id AND a.session_id = v.session_id AND a.event_id = v.voids_event_id
       AND a.type <> 'event.voided' AND a.voided_by IS NULL`,
    [keys],
  );
}

/** Drops what an interrupted replay left (the live tables are never touched before the swap). */
export async function dropShadow(pool: Pool): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${SHADOW_SCHEMA} CASCADE`);
}
