import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { TraceLedgerError } from '@traceledger/core';
import { recomputeSessions } from './ledger/recompute.js';
import { inLedgerTransaction, type LedgerHooks, type LedgerTx, type SessionRef } from './ledger/tx.js';

/** A staged import of historical events. */
export interface Backfill {
  backfillId: string;
  tenantId: string;
  label: string | null;
  replace: boolean;
  state: 'open' | 'closed' | 'reverted';
  source: string | null;
  linesDone: number;
  eventsSent: number;
  rejectedLines: number;
  /** Events of this backfill in the ledger (members; staged while open unless also live). */
  events: number;
}

function fail(message: string): TraceLedgerError {
  return new TraceLedgerError('TL_BACKFILL_STATE', message);
}

/** Creates an open backfill for a tenant; `replace` makes closing replace the sessions it overlaps. */
export async function createBackfill(pool: Pool, input: { tenantId: string; label?: string; replace?: boolean }): Promise<Backfill> {
  const backfillId = `bf_${randomBytes(6).toString('hex')}`;
  await pool.query('INSERT INTO backfills (backfill_id, tenant_id, label, replace_mode) VALUES ($1, $2, $3, $4)', [
    backfillId,
    input.tenantId,
    input.label ?? null,
    input.replace ?? false,
  ]);
  return getBackfill(pool, backfillId);
}

/** One backfill with its counts; throws TL_BACKFILL_NOT_FOUND. */
export async function getBackfill(pool: Pool | PoolClient, backfillId: string): Promise<Backfill> {
  const { rows } = await pool.query<{
    backfill_id: string; tenant_id: string; label: string | null; replace_mode: boolean; state: Backfill['state'];
    source: string | null; lines_done: string; events_sent: string; rejected_lines: string; events: string;
  }>(
    `SELECT b.*, (SELECT count(*) FROM backfill_events e WHERE e.backfill_id = b.backfill_id)::text AS events
     FROM backfills b WHERE backfill_id = $1`,
    [backfillId],
  );
  const r = rows[0];
  if (!r) throw new TraceLedgerError('TL_BACKFILL_NOT_FOUND', `no backfill ${backfillId}`);
  return {
    backfillId: r.backfill_id, tenantId: r.tenant_id, label: r.label, replace: r.replace_mode, state: r.state, source: r.source,
    linesDone: Number(r.lines_done), eventsSent: Number(r.events_sent), rejectedLines: Number(r.rejected_lines), events: Number(r.events),
  };
}

/** All backfills, newest first. */
export async function listBackfills(pool: Pool, tenantId?: string): Promise<Backfill[]> {
  const { rows } = await pool.query<{ backfill_id: string }>(
    'SELECT backfill_id FROM backfills WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY created_at DESC',
    [tenantId ?? null],
  );
  return Promise.all(rows.map((r) => getBackfill(pool, r.backfill_id)));
}

/**
 * Records the loader's progress after Kafka acknowledged everything up to `linesDone` of
 * `source`, so an interrupted load resumes after the last acknowledged line.
 */
export async function checkpointBackfill(pool: Pool, backfillId: string, progress: { source: string; linesDone: number; eventsSent: number; rejectedLines: number }): Promise<void> {
  const { rowCount } = await pool.query(
    `UPDATE backfills SET source = $2, lines_done = $3, events_sent = $4, rejected_lines = $5 WHERE backfill_id = $1 AND state = 'open'`,
    [backfillId, progress.source, progress.linesDone, progress.eventsSent, progress.rejectedLines],
  );
  if (rowCount === 0) throw fail(`backfill ${backfillId} is not open; nothing more can be loaded into it`);
}

/**
 * Closes a backfill in one ledger transaction: its members come in force (its voids take effect;
 * in replace mode it owns the sessions it covers, setting aside their other events) and every
 * session it touches is recomputed by the ledger's rule. Records of it read later count at once.
 * Closing a closed backfill changes nothing; a reverted one cannot be closed.
 */
export async function closeBackfill(pool: Pool, backfillId: string, hooks?: LedgerHooks): Promise<{ sessions: number; events: number; alreadyClosed: boolean }> {
  return inLedgerTransaction(
    pool,
    async (tx) => {
      const b = await lockBackfill(tx, backfillId);
      if (b.state === 'closed') return { sessions: 0, events: 0, alreadyClosed: true };
      if (b.state === 'reverted') throw fail(`backfill ${backfillId} was reverted; create a new one`);
      await tx.query(`UPDATE backfills SET state = 'closed', closed_at = now(), closed_seq = nextval('backfill_close_seq') WHERE backfill_id = $1`, [backfillId]);
      const { sessions, events } = await membersOf(tx, backfillId);
      await tx.lockSessions(sessions);
      // Its members are in force now: one statement for the mark most of them change, so the
      // recompute (which applies the whole rule and owns every mark) rewrites only the rest.
      await tx.query(
        `UPDATE applied_events a SET staged = false FROM backfill_events m
         WHERE m.backfill_id = $1 AND a.tenant_id = m.tenant_id AND a.session_id = m.session_id AND a.event_id = m.event_id AND a.staged`,
        [backfillId],
      );
      await recomputeSessions(tx, sessions);
      return { sessions: sessions.length, events, alreadyClosed: false };
    },
    hooks,
  );
}

/**
 * Removes a backfill, in one ledger transaction: its memberships go, ledger rows left with no
 * source go too (so they could be loaded again; an event that also arrived live stays), and every
 * session it touched is recomputed, so events it replaced or voided count again. Later records of
 * it are refused (TL_BACKFILL_REVERTED). Reverting twice changes nothing.
 */
export async function revertBackfill(pool: Pool, backfillId: string, hooks?: LedgerHooks): Promise<{ sessions: number; events: number }> {
  return inLedgerTransaction(
    pool,
    async (tx) => {
      const b = await lockBackfill(tx, backfillId);
      if (b.state === 'reverted') return { sessions: 0, events: 0 };
      const { sessions } = await membersOf(tx, backfillId);
      await tx.lockSessions(sessions);
      const { rows: removed } = await tx.query<{ tenant_id: string; event_id: string; session_id: string }>(
        'DELETE FROM backfill_events WHERE backfill_id = $1 RETURNING tenant_id, event_id, session_id',
        [backfillId],
      );
      // The ledger row and its key go together: the event may be loaded again.
      const { rowCount: deleted } = await tx.query(
        `WITH gone AS (
           DELETE FROM applied_events a USING unnest($1::text[], $2::text[], $3::text[]) AS k(t, e, s)
           WHERE a.tenant_id = k.t AND a.session_id = k.s AND a.event_id = k.e AND NOT a.live
             AND NOT EXISTS (SELECT 1 FROM backfill_events m WHERE m.tenant_id = a.tenant_id AND m.event_id = a.event_id)
           RETURNING a.tenant_id, a.event_id)
         DELETE FROM applied_event_keys k USING gone WHERE k.tenant_id = gone.tenant_id AND k.event_id = gone.event_id`,
        [removed.map((r) => r.tenant_id), removed.map((r) => r.event_id), removed.map((r) => r.session_id)],
      );
      await tx.query(`UPDATE backfills SET state = 'reverted', reverted_at = now() WHERE backfill_id = $1`, [backfillId]);
      await recomputeSessions(tx, sessions);
      return { sessions: sessions.length, events: deleted ?? 0 };
    },
    hooks,
  );
}

async function lockBackfill(tx: LedgerTx, backfillId: string): Promise<Backfill> {
  const locked = await tx.lockBackfills([backfillId], 'update');
  if (!locked.has(backfillId)) throw new TraceLedgerError('TL_BACKFILL_NOT_FOUND', `no backfill ${backfillId}`);
  return getBackfill(tx.client, backfillId);
}

/** The sessions a backfill has members in, and how many members (its row is locked by the caller). */
async function membersOf(tx: LedgerTx, backfillId: string): Promise<{ sessions: SessionRef[]; events: number }> {
  const { rows } = await tx.query<{ tenant_id: string; session_id: string; n: string }>(
    'SELECT tenant_id, session_id, count(*)::text AS n FROM backfill_events WHERE backfill_id = $1 GROUP BY 1, 2',
    [backfillId],
  );
  return { sessions: rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id })), events: rows.reduce((n, r) => n + Number(r.n), 0) };
}
