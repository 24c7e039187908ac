import { TraceLedgerError, judgeSession, type EventMarks, type SessionState } from '@traceledger/core';
import { deleteSessions, readSessionEntries, replaceSessions, writeMarks, writeOwners } from './rows.js';
import { readBackfills, sessionRefKey, sortedSessions, type LedgerTx, type SessionRef } from './tx.js';

const RECOMPUTE_CHUNK = 1000;

/** What a recompute did. */
export interface RecomputeResult {
  /** Sessions whose row was written. */
  written: number;
  /** Sessions whose row was deleted (nothing counts any more) or stayed absent. */
  empty: number;
}

function sameMarks(a: EventMarks, b: EventMarks): boolean {
  return a.staged === b.staged && a.voidedBy === b.voidedBy && a.replacedBy === b.replacedBy;
}

/**
 * Rewrites sessions from their ledger rows by the ledger's rule (`judgeSession`): the row (or its
 * absence), the marks of every event and the session's owner, a thousand sessions per round trip.
 * The caller holds the sessions' locks (LedgerTx.lockSessions), so no other transaction has
 * uncommitted events for them. Each event keeps the cost it was recorded with.
 */
export async function recomputeSessions(tx: LedgerTx, sessions: Iterable<SessionRef>): Promise<RecomputeResult> {
  const keys = sortedSessions(sessions);
  tx.assertLocked(keys);
  const sealed = keys.filter((s) => tx.sealed.has(sessionRefKey(s)));
  if (sealed.length > 0) {
    // Callers leave sealed sessions out (the fold refuses what would need it, operators skip them).
    throw new TraceLedgerError('TL_SESSION_ARCHIVED', `${sealed.length} session(s) with archived ledger months cannot be recomputed, e.g. ${sealed[0]?.tenantId}/${sealed[0]?.sessionId}`);
  }
  const result: RecomputeResult = { written: 0, empty: 0 };
  for (let i = 0; i < keys.length; i += RECOMPUTE_CHUNK) {
    const chunk = keys.slice(i, i + RECOMPUTE_CHUNK);
    const entries = await readSessionEntries(tx, chunk);
    const backfills = await readBackfills(tx, [...entries.values()].flatMap((list) => list.flatMap((e) => e.backfills)));
    const states: SessionState[] = [];
    const empty: SessionRef[] = [];
    const marks: { tenantId: string; sessionId: string; eventId: string; marks: EventMarks }[] = [];
    const owners: { tenantId: string; sessionId: string; owner: string | null }[] = [];
    for (const s of chunk) {
      const k = sessionRefKey(s);
      const list = entries.get(k) ?? [];
      const judged = judgeSession(list, (id) => backfills.get(id));
      if (judged.state === null) empty.push(s);
      else states.push(judged.state);
      for (const e of list) {
        const m = judged.marks.get(e.event.eventId);
        if (m !== undefined && !sameMarks(m, e.marks)) marks.push({ ...s, eventId: e.event.eventId, marks: m });
      }
      if ((tx.owners.get(k) ?? null) !== judged.owner) owners.push({ ...s, owner: judged.owner });
    }
    await writeMarks(tx, marks);
    await writeOwners(tx, owners);
    await deleteSessions(tx, empty);
    await replaceSessions(tx, states);
    result.written += states.length;
    result.empty += empty.length;
  }
  return result;
}
