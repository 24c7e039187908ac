import type { Pool } from 'pg';
import { backfillArrival, formatMoney, utcMonthOf, type PriceBook } from '@traceledger/core';
import { loadPriceBook } from './price-book.js';
import type { RefusedEvent, SourcedEvent } from './ledger/apply.js';
import { recomputeSessions } from './ledger/recompute.js';
import { STORED_COLUMNS, eventKey, insertShadowRows, storedEntry, type NewLedgerRow, type StoredRow } from './ledger/rows.js';
import { inLedgerTransaction, sessionRefKey, type LedgerTx } from './ledger/tx.js';
import { inTransaction } from './transaction.js';

/** The schema a replay records into; dropped and made anew by every replay. */
export const SHADOW_SCHEMA = 'tl_replay';

/** A replay in progress: the shadow ledger and the price book it prices with. */
export interface Shadow {
  book: PriceBook;
  /** The price-book generation `book` is of. */
  generation: bigint;
}

/**
 * Makes an empty shadow ledger (`tl_replay.applied_events` and `tl_replay.backfill_events`, same
 * columns, defaults, constraints and indexes as the live ones) and loads the current price book.
 * Anything left by an interrupted replay is dropped first; the live tables are not touched.
 */
export async function prepareShadow(pool: Pool): Promise<Shadow> {
  await pool.query(`DROP SCHEMA IF EXISTS ${SHADOW_SCHEMA} CASCADE`);
  await pool.query(`CREATE SCHEMA ${SHADOW_SCHEMA}`);
  // Unpartitioned, holding the event key itself (the live ledger keeps it in applied_event_keys).
  await pool.query(`CREATE TABLE ${SHADOW_SCHEMA}.applied_events (LIKE public.applied_events INCLUDING ALL, PRIMARY KEY (tenant_id, event_id))`);
  await pool.query(`CREATE TABLE ${SHADOW_SCHEMA}.backfill_events (LIKE public.backfill_events INCLUDING ALL)`);
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ generation: string }>('SELECT generation::text FROM price_book_state');
    const book = await loadPriceBook(client);
    await client.query('COMMIT');
    return { book, generation: BigInt(rows[0]?.generation ?? '0') };
  } finally {
    client.release();
  }
}

/**
 * Records replayed events in the shadow ledger (first of each id wins, as live), priced with the
 * shadow's book. Records of a reverted or unknown backfill are refused by the same lifecycle as
 * the live consumer's (`backfillArrival`) and returned; a database refusal is thrown (the caller
 * isolates it with `isolateRefused`).
 */
export async function foldIntoShadow(pool: Pool, shadow: Shadow, batch: readonly SourcedEvent[]): Promise<{ recorded: number; refused: RefusedEvent[] }> {
  if (batch.length === 0) return { recorded: 0, refused: [] };
  return inTransaction(pool, async (client) => {
    const backfills = await readBackfillStates(client, batch);
    const refused: RefusedEvent[] = [];
    const rows: NewLedgerRow[] = [];
    const members: { backfillId: string; tenantId: string; eventId: string; sessionId: string }[] = [];
    batch.forEach((s, index) => {
      if (s.backfillId !== undefined) {
        const arrival = backfillArrival(backfills.get(s.backfillId), s.backfillId, s.event.tenantId);
        if (arrival.kind === 'refuse') {
          refused.push({ index, code: arrival.code, reason: arrival.reason });
          return;
        }
        members.push({ backfillId: s.backfillId, tenantId: s.event.tenantId, eventId: s.event.eventId, sessionId: s.event.sessionId });
      }
      rows.push({
        event: s.event,
        billed: s.event.type === 'llm.usage' ? shadow.book.price(s.event) : null,
        live: s.backfillId === undefined,
        staged: false,
        partition: s.partition ?? null,
        offset: s.offset ?? null,
        // Set to the session's own month by the swap.
        month: utcMonthOf(Date.now()),
      });
    });
    // Live copies first, so a row that arrived both ways is recorded live.
    rows.sort((a, b) => Number(b.live) - Number(a.live));
    const fresh = await insertShadowRows(client, `${SHADOW_SCHEMA}.applied_events`, rows);
    // A later live copy of an event first recorded from a backfill makes it live.
    const live = rows.filter((r) => r.live && !fresh.has(eventKey(r.event.tenantId, r.event.eventId)));
    if (live.length > 0) {
      await client.query(
        `UPDATE ${SHADOW_SCHEMA}.applied_events a SET live = true FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, e, s)
         WHERE a.tenant_id = k.t AND a.event_id = k.e AND a.session_id = k.s AND NOT a.live`,
        [live.map((r) => r.event.tenantId), live.map((r) => r.event.eventId), live.map((r) => r.event.sessionId)],
      );
    }
    if (members.length > 0) {
      await client.query(
        `INSERT INTO ${SHADOW_SCHEMA}.backfill_events (backfill_id, tenant_id, event_id, session_id)
         SELECT m.b, m.t, m.e, m.s FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS m(b, t, e, s)
         JOIN ${SHADOW_SCHEMA}.applied_events a ON a.tenant_id = m.t AND a.event_id = m.e AND a.session_id = m.s
         ON CONFLICT DO NOTHING`,
        [members.map((m) => m.backfillId), members.map((m) => m.tenantId), members.map((m) => m.eventId), members.map((m) => m.sessionId)],
      );
    }
    return { recorded: fresh.size, refused };
  });
}

async function readBackfillStates(client: { query: Pool['query'] }, batch: readonly SourcedEvent[]) {
  const ids = [...new Set(batch.flatMap((s) => (s.backfillId === undefined ? [] : [s.backfillId])))];
  const { rows } = await client.query<{ backfill_id: string; tenant_id: string; state: 'open' | 'closed' | 'reverted'; replace_mode: boolean; closed_seq: string | null }>(
    'SELECT backfill_id, tenant_id, state, replace_mode, closed_seq::text FROM backfills WHERE backfill_id = ANY($1::text[])',
    [ids],
  );
  return new Map(
    rows.map((r) => [r.backfill_id, { backfillId: r.backfill_id, tenantId: r.tenant_id, state: r.state, replace: r.replace_mode, closedSeq: r.closed_seq === null ? null : BigInt(r.closed_seq) }]),
  );
}

export interface SwapResult {
  /** Ledger rows re-derived from the topic. */
  events: number;
  /** Sessions recomputed. */
  sessions: number;
  /** Sessions left as they were because part of their ledger was archived (their events are not swapped). */
  sealed: number;
}

const COLUMNS = `tenant_id, event_id, session_id, type, occurred_at, agent_id, team_id, provider, model, input_tokens, output_tokens,
  cached_input_tokens, reasoning_tokens, reported_cost, cost, cost_source, price_version, status, voids_event_id,
  source_partition, source_offset`;

/**
 * Swaps the replayed ledger in, in one ledger transaction that readers see all at once, under the
 * concurrency rule: the shared price-book lock (shadow rows are re-priced if a version was
 * published during the replay), the backfills the shadow has members of (members of a backfill
 * reverted meanwhile are dropped, by the same lifecycle), then every session concerned. Every live
 * ledger row the replay re-derived is replaced by its new version, keeping its sources (what the
 * live consumer folded that the replay did not read stays), memberships are added, and every
 * session is recomputed by the ledger's rule; the rollups follow. The live consumer goes on,
 * waiting only on the sessions being swapped. The shadow is dropped.
 */
export async function swapReplay(pool: Pool, shadow: Shadow): Promise<SwapResult> {
  const S = SHADOW_SCHEMA;
  return inLedgerTransaction(pool, async (tx) => {
    const generation = await tx.lockPriceBook('shared');
    if (generation !== shadow.generation) await repriceShadow(tx, await loadPriceBook(tx.client));

    const { rows: ids } = await tx.query<{ backfill_id: string }>(`SELECT DISTINCT backfill_id FROM ${S}.backfill_events`);
    const backfills = await tx.lockBackfills(ids.map((r) => r.backfill_id), 'share');
    const gone = ids.map((r) => r.backfill_id).filter((id) => backfills.get(id)?.state !== 'open' && backfills.get(id)?.state !== 'closed');
    if (gone.length > 0) {
      await tx.query(`DELETE FROM ${S}.backfill_events WHERE backfill_id = ANY($1::text[])`, [gone]);
      await tx.query(
        `DELETE FROM ${S}.applied_events a WHERE NOT a.live
           AND NOT EXISTS (SELECT 1 FROM ${S}.backfill_events m WHERE m.tenant_id = a.tenant_id AND m.event_id = a.event_id)`,
      );
    }

    const { rows: sessions } = await tx.query<{ tenant_id: string; session_id: string }>(
      `SELECT tenant_id, session_id FROM ${S}.applied_events
       UNION SELECT k.tenant_id, k.session_id FROM public.applied_event_keys k JOIN ${S}.applied_events r USING (tenant_id, event_id)`,
    );
    await tx.lockSessions(sessions.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id })));
    // Sessions with archived ledger months keep their rows: their events are left out of the swap.
    const sealed = sessions.filter((r) => tx.sealed.has(sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id })));
    if (sealed.length > 0) {
      await tx.query(
        `WITH sealed AS (SELECT * FROM unnest($1::text[], $2::text[]) AS x(t, s))
         DELETE FROM ${S}.applied_events r WHERE EXISTS (SELECT 1 FROM sealed WHERE sealed.t = r.tenant_id AND sealed.s = r.session_id)
            OR EXISTS (SELECT 1 FROM public.applied_event_keys k JOIN sealed ON sealed.t = k.tenant_id AND sealed.s = k.session_id
                       WHERE k.tenant_id = r.tenant_id AND k.event_id = r.event_id)`,
        [sealed.map((r) => r.tenant_id), sealed.map((r) => r.session_id)],
      );
      await tx.query(`DELETE FROM ${S}.backfill_events m WHERE NOT EXISTS (SELECT 1 FROM ${S}.applied_events r WHERE r.tenant_id = m.tenant_id AND r.event_id = m.event_id)`);
    }
    const refs = sessions
      .map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }))
      .filter((r) => !tx.sealed.has(sessionRefKey(r)));

    // Each re-derived row replaces the live one (found by its key) in its session's partition.
    const { rowCount: replaced } = await tx.query(
      `WITH old AS (
         DELETE FROM public.applied_events a USING ${S}.applied_events r, public.applied_event_keys k
         WHERE k.tenant_id = r.tenant_id AND k.event_id = r.event_id
           AND a.ledger_month = k.ledger_month AND a.tenant_id = k.tenant_id AND a.session_id = k.session_id AND a.event_id = k.event_id
         RETURNING a.tenant_id, a.event_id, a.live, a.staged, a.voided_by, a.replaced_by, a.applied_at),
       keys AS (
         INSERT INTO public.applied_event_keys AS k (tenant_id, event_id, session_id, ledger_month)
         SELECT r.tenant_id, r.event_id, r.session_id, ls.ledger_month
         FROM ${S}.applied_events r JOIN public.ledger_sessions ls ON ls.tenant_id = r.tenant_id AND ls.session_id = r.session_id
         ON CONFLICT (tenant_id, event_id) DO UPDATE SET session_id = EXCLUDED.session_id, ledger_month = EXCLUDED.ledger_month)
       -- The old marks are kept (the recompute below rewrites only those that change).
       INSERT INTO public.applied_events (${COLUMNS}, live, staged, voided_by, replaced_by, applied_at, ledger_month)
       SELECT ${COLUMNS.split(',').map((c) => `r.${c.trim()}`).join(', ')}, r.live OR coalesce(old.live, false),
              coalesce(old.staged, NOT r.live), old.voided_by, old.replaced_by, coalesce(old.applied_at, r.applied_at), ls.ledger_month
       FROM ${S}.applied_events r LEFT JOIN old USING (tenant_id, event_id)
       JOIN public.ledger_sessions ls ON ls.tenant_id = r.tenant_id AND ls.session_id = r.session_id`,
    );
    // Memberships follow their event's (re-derived) session; then the replay's own are added.
    await tx.query(
      `UPDATE public.backfill_events m SET session_id = r.session_id FROM ${S}.applied_events r
       WHERE m.tenant_id = r.tenant_id AND m.event_id = r.event_id AND m.session_id <> r.session_id`,
    );
    await tx.query(`INSERT INTO public.backfill_events SELECT * FROM ${S}.backfill_events ON CONFLICT DO NOTHING`);
    await recomputeSessions(tx, refs);
    await tx.query(`DROP SCHEMA ${S} CASCADE`);
    return { events: replaced ?? 0, sessions: refs.length, sealed: sealed.length };
  });
}

/** Re-prices the shadow's book-priced and unpriced usage rows with `book`. */
async function repriceShadow(tx: LedgerTx, book: PriceBook): Promise<void> {
  const { rows } = await tx.query<StoredRow>(
    `SELECT ${STORED_COLUMNS} FROM ${SHADOW_SCHEMA}.applied_events a WHERE a.type = 'llm.usage' AND a.reported_cost IS NULL`,
  );
  const priced = rows.map(storedEntry).map(({ event }) => {
    const p = book.price(event);
    return { tenant_id: event.tenantId, event_id: event.eventId, cost: p === null ? null : formatMoney(p.costNanos), source: p?.source ?? null, version: p?.priceVersion ?? null };
  });
  if (priced.length === 0) return;
  await tx.query(
    `UPDATE ${SHADOW_SCHEMA}.applied_events a SET cost = x.cost, cost_source = x.source, price_version = x.version
     FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, event_id text, cost numeric, source text, version text)
     WHERE a.tenant_id = x.tenant_id AND a.event_id = x.event_id`,
    [JSON.stringify(priced)],
  );
}

/** Drops what an interrupted replay left (the live tables are never touched before the swap). */
export async function dropShadow(pool: Pool): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${SHADOW_SCHEMA} CASCADE`);
}
