import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { TraceLedgerError } from '@traceledger/core';
import { recomputeSessions } from './fold-store.js';

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
  /** Events of this backfill in the ledger (staged while open). */
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
    `SELECT b.*, (SELECT count(*) FROM applied_events a WHERE a.backfill_id = b.backfill_id)::text AS events
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
 * Closes a backfill in one transaction: its staged events start to count (its voids take effect;
 * in replace mode every other event of the sessions it covers is set aside), and every session it
 * touches is recomputed from the ledger. Closing a closed backfill changes nothing.
 */
export async function closeBackfill(pool: Pool, backfillId: string): Promise<{ sessions: number; events: number; alreadyClosed: boolean }> {
  return inTransaction(pool, async (client) => {
    const b = await lockBackfill(client, backfillId);
    if (b.state === 'closed') return { sessions: 0, events: 0, alreadyClosed: true };
    if (b.state === 'reverted') throw fail(`backfill ${backfillId} was reverted; create a new one`);
    const { rows: events } = await client.query<{ tenant_id: string; session_id: string; event_id: string; type: string; voids_event_id: string | null }>(
      `UPDATE applied_events SET staged = false WHERE backfill_id = $1 AND staged
       RETURNING tenant_id, session_id, event_id, type, voids_event_id`,
      [backfillId],
    );
    const touched = new Set(events.map((e) => `${e.tenant_id}\u0000${e.session_id}`));
    if (b.replace) {
      await client.query(
        `UPDATE applied_events a SET voided_by = 'replaced-by:' || $1
         FROM (SELECT DISTINCT tenant_id, session_id FROM applied_events WHERE backfill_id = $1) s
         WHERE a.tenant_id = s.tenant_id AND a.session_id = s.session_id
           AND a.backfill_id IS DISTINCT FROM $1 AND a.voided_by IS NULL AND NOT a.staged`,
        [backfillId],
      );
    }
    const voids = events.filter((e) => e.type === 'event.voided' && e.voids_event_id !== null);
    if (voids.length > 0) {
      const { rows: hit } = await client.query<{ tenant_id: string; session_id: string }>(
        `UPDATE applied_events a SET voided_by = x.event_id
         FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, event_id text, voids_event_id text)
         WHERE a.tenant_id = x.tenant_id AND a.session_id = x.session_id AND a.event_id = x.voids_event_id
           AND a.type <> 'event.voided' AND a.voided_by IS NULL
         RETURNING a.tenant_id, a.session_id`,
        [JSON.stringify(voids)],
      );
      for (const h of hit) touched.add(`${h.tenant_id}\u0000${h.session_id}`);
    }
    await recomputeAll(client, touched);
    await client.query(`UPDATE backfills SET state = 'closed', closed_at = now() WHERE backfill_id = $1`, [backfillId]);
    return { sessions: touched.size, events: events.length, alreadyClosed: false };
  });
}

/**
 * Removes a backfill entirely, in one transaction: its events leave the ledger (so they could be
 * loaded again), events it replaced or voided count again, and every touched session is
 * recomputed, which restores the totals from before it was closed exactly.
 */
export async function revertBackfill(pool: Pool, backfillId: string): Promise<{ sessions: number; events: number }> {
  return inTransaction(pool, async (client) => {
    const b = await lockBackfill(client, backfillId);
    if (b.state === 'reverted') return { sessions: 0, events: 0 };
    const { rows: restored } = await client.query<{ tenant_id: string; session_id: string }>(
      `UPDATE applied_events SET voided_by = NULL
       WHERE voided_by = 'replaced-by:' || $1
          OR (voided_by IN (SELECT event_id FROM applied_events WHERE backfill_id = $1 AND type = 'event.voided')
              AND tenant_id = $2)
       RETURNING tenant_id, session_id`,
      [backfillId, b.tenantId],
    );
    const { rows: removed } = await client.query<{ tenant_id: string; session_id: string }>(
      'DELETE FROM applied_events WHERE backfill_id = $1 RETURNING tenant_id, session_id',
      [backfillId],
    );
    const touched = new Set([...restored, ...removed].map((r) => `${r.tenant_id}\u0000${r.session_id}`));
    if (b.state === 'closed' || restored.length > 0) await recomputeAll(client, touched);
    await client.query(`UPDATE backfills SET state = 'reverted', reverted_at = now() WHERE backfill_id = $1`, [backfillId]);
    return { sessions: touched.size, events: removed.length };
  });
}

async function lockBackfill(client: PoolClient, backfillId: string): Promise<Backfill> {
  const { rowCount } = await client.query('SELECT 1 FROM backfills WHERE backfill_id = $1 FOR UPDATE', [backfillId]);
  if (rowCount === 0) throw new TraceLedgerError('TL_BACKFILL_NOT_FOUND', `no backfill ${backfillId}`);
  return getBackfill(client, backfillId);
}

async function recomputeAll(client: PoolClient, keys: Set<string>): Promise<void> {
  await recomputeSessions(
    client,
    [...keys].map((k) => {
      const [tenantId = '', sessionId = ''] = k.split('\u0000');
      return { tenantId, sessionId };
    }),
  );
}

async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const r = await fn(client);
    await client.query('COMMIT');
    return r;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
