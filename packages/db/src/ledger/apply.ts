import type { Pool } from 'pg';
import { aggregateBySession, backfillArrival, type BackfillArrival, type PricedCost, type TraceEvent } from '@traceledger/core';
import { recomputeSessions } from './recompute.js';
import { eventKey, existingLedgerRows, insertLedgerRows, insertMemberships, markLive, mergeSessions, type NewLedgerRow } from './rows.js';
import { reportedOnly, type Pricing } from './pricing.js';
import { inLedgerTransaction, sessionRefKey, type LedgerHooks, type LedgerTx, type SessionRef } from './tx.js';

/** An event to fold, with where it came from on the topic. */
export interface SourcedEvent {
  event: TraceEvent;
  partition?: number;
  offset?: string;
  /** The record's backfill (its `tl-backfill` header); absent for a live record. */
  backfillId?: string;
}

/** A record of the batch kept for the ledger, with its event key (`tenant\0event`). */
interface Accepted {
  /** Index in the batch. */
  index: number;
  s: SourcedEvent;
  key: string;
  arrival: BackfillArrival | null;
}

/** A record the ledger refused by rule (not by a database error): it belongs in the dead-letter topic. */
export interface RefusedEvent {
  /** Index in the batch given to `applyEvents`. */
  index: number;
  code: string;
  reason: string;
}

/** What one `applyEvents` call did. */
export interface ApplyResult {
  /** Events recorded for the first time. */
  applied: number;
  /** Events already recorded (or repeated in the batch): no change. */
  duplicates: number;
  /** Session rows written. */
  sessions: number;
  /** Records refused by the backfill lifecycle (reverted or unknown backfill). */
  refused: RefusedEvent[];
}

/**
 * Folds a batch of events exactly once per (tenant, event id), in one ledger transaction under
 * the concurrency rule: the shared price-book lock (and the book's generation), the backfills the
 * batch records members of, then every session of the batch, in order. Under those locks it
 * records the new events in the ledger; events that plainly count (live, not a void, no void
 * waiting for them, no owner set them aside) are pre-aggregated per session and merged with one
 * upsert; every other touched session is recomputed by the ledger's rule. The caller may commit
 * Kafka offsets once this resolves.
 */
export async function applyEvents(pool: Pool, batch: readonly SourcedEvent[], pricing: Pricing = reportedOnly, hooks?: LedgerHooks): Promise<ApplyResult> {
  if (batch.length === 0) return { applied: 0, duplicates: 0, sessions: 0, refused: [] };
  return inLedgerTransaction(
    pool,
    async (tx) => {
      const priceOf = await pricing.priceOf(tx, tx.generation ?? 0n);

      const backfillIds = new Set(batch.flatMap((s) => (s.backfillId === undefined ? [] : [s.backfillId])));
      const backfills = await tx.lockBackfills(backfillIds, 'share');
      const refused: RefusedEvent[] = [];
      // First of each (tenant, event id, source) in the batch; a later repeat is a duplicate. The
      // event key is computed once per record and carried along.
      const seen = new Set<string>();
      let accepted: Accepted[] = [];
      batch.forEach((s, index) => {
        const key = eventKey(s.event.tenantId, s.event.eventId);
        let arrival: BackfillArrival | null = null;
        if (s.backfillId !== undefined) {
          arrival = backfillArrival(backfills.get(s.backfillId), s.backfillId, s.event.tenantId);
          if (arrival.kind === 'refuse') {
            refused.push({ index, code: arrival.code, reason: arrival.reason });
            return;
          }
        }
        // A live copy and a backfill copy of one event in one batch are both kept: two sources.
        const sk = s.backfillId === undefined ? key : `${key}\u0000${s.backfillId}`;
        if (seen.has(sk)) return;
        seen.add(sk);
        accepted.push({ index, s, key, arrival });
      });

      await tx.lockSessions(accepted.map(({ s }) => s.event));
      if (tx.sealed.size > 0) accepted = admitToSealed(tx, accepted, refused);

      const firstOfId = new Map<string, Accepted>();
      for (const a of accepted) {
        const prev = firstOfId.get(a.key);
        // Recorded live when any copy of it in the batch is live.
        if (prev === undefined || (prev.s.backfillId !== undefined && a.s.backfillId === undefined)) firstOfId.set(a.key, a);
      }
      const firsts = [...firstOfId.values()];
      const billed = new Map<TraceEvent, PricedCost | null>();
      const rows: NewLedgerRow[] = firsts.map(({ s, arrival }) => {
        const cost = s.event.type === 'llm.usage' ? priceOf(s.event) : null;
        billed.set(s.event, cost);
        return {
          event: s.event,
          billed: cost,
          live: s.backfillId === undefined,
          staged: arrival?.kind === 'stage',
          partition: s.partition ?? null,
          offset: s.offset ?? null,
          month: tx.monthOf(s.event),
        };
      });
      const inserted = await insertLedgerRows(tx, rows);
      const fresh = new Set<string>();
      const namedByVoid = new Set<string>();
      firsts.forEach((a, i) => {
        if (!inserted.repeated.has(i)) fresh.add(a.key);
        if (inserted.namedByVoid.has(i)) namedByVoid.add(a.key);
      });
      const recompute = new Map<string, SessionRef>();
      const touch = (e: SessionRef): void => void recompute.set(sessionRefKey(e), { tenantId: e.tenantId, sessionId: e.sessionId });

      // Events recorded before: a new source of the same event (same session) may change what counts.
      const repeats = fresh.size === accepted.length ? [] : accepted.filter((a) => !fresh.has(a.key));
      const known = await existingLedgerRows(tx, repeats.map(({ s }) => s.event));
      const sameEvent = (a: Accepted): boolean => known.get(a.key)?.sessionId === a.s.event.sessionId;
      const newlyLive = repeats.filter((a) => a.s.backfillId === undefined && sameEvent(a) && known.get(a.key)?.live === false);
      await markLive(tx, newlyLive.map(({ s }) => s.event));
      for (const { s } of newlyLive) touch(s.event);

      // Backfill memberships: of events recorded now, and of known events of the same session.
      const members = accepted
        .filter((a) => a.s.backfillId !== undefined && (fresh.has(a.key) || sameEvent(a)))
        .map(({ s }) => ({ backfillId: s.backfillId as string, tenantId: s.event.tenantId, eventId: s.event.eventId, sessionId: s.event.sessionId }));
      const added = await insertMemberships(tx, members);
      for (const m of added) if (backfills.get(m.backfillId)?.state === 'closed') touch(m);

      // New live events: the fast path, unless something in their session needs the rule.
      const freshLive: TraceEvent[] = [];
      for (const { s, key, arrival } of firsts) {
        if (!fresh.has(key)) continue;
        if (s.backfillId === undefined) freshLive.push(s.event);
        else if (arrival?.kind === 'count') touch(s.event);
      }
      for (const e of freshLive) {
        if (e.type === 'event.voided' || (tx.owners.get(sessionRefKey(e)) ?? null) !== null) touch(e);
      }
      // A new event that a void recorded earlier names: the rule decides whether it counts.
      if (namedByVoid.size > 0) for (const e of freshLive) if (namedByVoid.has(eventKey(e.tenantId, e.eventId))) touch(e);
      const fast = freshLive.filter((e) => e.type !== 'event.voided' && !recompute.has(sessionRefKey(e)));
      const states = [...aggregateBySession(fast, (e) => billed.get(e) ?? null).values()];
      await mergeSessions(tx, states);
      const recomputed = await recomputeSessions(tx, recompute.values());
      return {
        applied: fresh.size,
        duplicates: batch.length - refused.length - fresh.size,
        sessions: states.length + recomputed.written + recomputed.empty,
        refused,
      };
    },
    hooks,
    { priceBook: 'shared' },
  );
}

/**
 * A sealed session (part of its ledger archived: docs/scaling.md, "Ledger partitions and
 * retention") can never be recomputed, since its archived events are no longer there to recompute
 * from. It takes what merges into its row without a recompute: live events that plainly count.
 * A void, a backfill record, or any event of a session a replace-mode backfill owns would need the
 * whole ledger: refused (dead-lettered) with TL_SESSION_ARCHIVED, changing nothing.
 */
function admitToSealed(tx: LedgerTx, accepted: readonly Accepted[], refused: RefusedEvent[]): Accepted[] {
  return accepted.filter((a) => {
    const k = sessionRefKey(a.s.event);
    if (!tx.sealed.has(k)) return true;
    const why =
      a.s.event.type === 'event.voided'
        ? 'a void'
        : a.s.backfillId !== undefined
          ? 'a backfill record'
          : (tx.owners.get(k) ?? null) !== null
            ? 'an event of a session that a replace-mode backfill owns'
            : null;
    if (why === null) return true;
    refused.push({
      index: a.index,
      code: 'TL_SESSION_ARCHIVED',
      reason: `session ${a.s.event.sessionId} of tenant ${a.s.event.tenantId} has archived ledger months; ${why} would need its whole ledger to recompute it`,
    });
    return false;
  });
}
