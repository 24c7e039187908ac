import type { TraceEvent } from './events.js';
import { dedupeEvents, foldCounting, reportedCostOnly, type PriceOf, type SessionState } from './fold.js';
import type { PricedCost } from './pricing.js';

/**
 * The ledger's rule: which recorded events of a session count. This is the one definition
 * (docs/architecture.md, "The ledger and what counts"); the database applies it through
 * packages/db/src/ledger and `verify` re-applies it to every session. Pure: no I/O.
 */

export type BackfillState = 'open' | 'closed' | 'reverted';

/** What the rule needs to know of a backfill. */
export interface BackfillInfo {
  backfillId: string;
  tenantId: string;
  state: BackfillState;
  replace: boolean;
  /** Order of closing (later closes are greater); null while not closed. */
  closedSeq: bigint | null;
}

/** One ledger row: the event as first recorded, what it is billed at, and how it arrived. */
export interface LedgerEntry {
  event: TraceEvent;
  /** The cost recorded for the event (reported or from the book); null: unpriced, or not usage. */
  billed: PricedCost | null;
  /** Reached through the live path (a record without a backfill header). */
  live: boolean;
  /** Backfills whose records carried this event. */
  backfills: readonly string[];
}

/** Why an event does or does not count, as stored on its ledger row. */
export interface EventMarks {
  /** Not in force: not live and no member of a closed backfill. */
  staged: boolean;
  /** The least effective void of the session naming it. */
  voidedBy: string | null;
  /** The session's owner, when this event is set aside by it. */
  replacedBy: string | null;
}

export interface SessionJudgement {
  /** The session row: the fold of the counting events; null when none counts. */
  state: SessionState | null;
  /** The closed replace-mode backfill the session belongs to, if any. */
  owner: string | null;
  /** Marks of every event of the session, by event id. */
  marks: Map<string, EventMarks>;
  /** The events that count. */
  counting: LedgerEntry[];
}

export type BackfillLookup = (backfillId: string) => BackfillInfo | undefined;

/** Bytewise order of event ids (Postgres COLLATE "C"). */
export function compareIds(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isClosed(id: string, backfill: BackfillLookup): boolean {
  return backfill(id)?.state === 'closed';
}

/** In force: live, or a member of a closed backfill. */
export function inForce(entry: Pick<LedgerEntry, 'live' | 'backfills'>, backfill: BackfillLookup): boolean {
  return entry.live || entry.backfills.some((b) => isClosed(b, backfill));
}

/**
 * The session's owner: among closed replace-mode backfills with a member in the session, the one
 * closed last. Its events define the session; every other non-void event is set aside.
 */
export function sessionOwner(entries: readonly Pick<LedgerEntry, 'backfills'>[], backfill: BackfillLookup): string | null {
  let best: BackfillInfo | null = null;
  for (const e of entries) {
    for (const id of e.backfills) {
      const b = backfill(id);
      if (b === undefined || b.state !== 'closed' || !b.replace || b.closedSeq === null) continue;
      if (best === null || b.closedSeq > (best.closedSeq ?? -1n) || (b.closedSeq === best.closedSeq && compareIds(b.backfillId, best.backfillId) > 0)) best = b;
    }
  }
  return best?.backfillId ?? null;
}

/**
 * Applies the rule to all ledger rows of one session (duplicates by event id keep the first):
 * in force → not replaced by the owner (voids are never replaced) → effective; an effective void
 * cancels the non-void event it names; what is effective, not a void and not cancelled counts.
 * `billed` prices each counting event as it was recorded.
 */
export function judgeSession(entries: readonly LedgerEntry[], backfill: BackfillLookup): SessionJudgement {
  const distinct = dedupeEvents(entries.map((e) => ({ ...e, tenantId: e.event.tenantId, eventId: e.event.eventId })));
  const owner = sessionOwner(distinct, backfill);
  const marks = new Map<string, EventMarks>();
  const effective = new Set<string>();
  for (const e of distinct) {
    const staged = !inForce(e, backfill);
    const replacedBy = !staged && owner !== null && e.event.type !== 'event.voided' && !e.backfills.includes(owner) ? owner : null;
    marks.set(e.eventId, { staged, voidedBy: null, replacedBy });
    if (!staged && replacedBy === null) effective.add(e.eventId);
  }
  const types = new Map(distinct.map((e) => [e.eventId, e.event.type]));
  for (const e of distinct) {
    const target = e.event.voidsEventId;
    if (e.event.type !== 'event.voided' || target === null || !effective.has(e.eventId)) continue;
    const t = marks.get(target);
    if (t === undefined || types.get(target) === 'event.voided') continue;
    if (t.voidedBy === null || compareIds(e.eventId, t.voidedBy) < 0) t.voidedBy = e.eventId;
  }
  const counting = distinct.filter((e) => e.event.type !== 'event.voided' && effective.has(e.eventId) && marks.get(e.eventId)?.voidedBy === null);
  const billed = new Map(counting.map((e) => [e.eventId, e.billed]));
  const state = foldCounting(
    counting.map((e) => e.event),
    (ev) => billed.get(ev.eventId) ?? null,
  );
  return { state, owner, marks, counting };
}

/** What happens to a record carrying a backfill header, by that backfill's state when it is read. */
export type BackfillArrival =
  | { kind: 'stage' }
  | { kind: 'count' }
  | { kind: 'refuse'; code: 'TL_BACKFILL_UNKNOWN' | 'TL_BACKFILL_REVERTED'; reason: string };

/**
 * The backfill lifecycle for a record read from the topic (consumer and replay alike): an open
 * backfill stages it, a closed one counts it at once (a late record is never left staged), a
 * reverted or unknown one (or one of another tenant) refuses it to the dead-letter topic.
 */
export function backfillArrival(info: BackfillInfo | undefined, backfillId: string, tenantId: string): BackfillArrival {
  if (info === undefined || info.tenantId !== tenantId) {
    return { kind: 'refuse', code: 'TL_BACKFILL_UNKNOWN', reason: `the record names backfill ${backfillId}, which tenant ${tenantId} does not have` };
  }
  if (info.state === 'reverted') {
    return { kind: 'refuse', code: 'TL_BACKFILL_REVERTED', reason: `backfill ${backfillId} was reverted; its records no longer count (load them into a new backfill)` };
  }
  return info.state === 'open' ? { kind: 'stage' } : { kind: 'count' };
}

/**
 * A session folded from live events only (the rule with no backfills): duplicates dropped, voids
 * applied, then merged. Null when nothing counts.
 */
export function foldSession(events: Iterable<TraceEvent>, priceOf: PriceOf = reportedCostOnly): SessionState | null {
  const entries: LedgerEntry[] = [];
  for (const event of events) entries.push({ event, billed: event.type === 'llm.usage' ? priceOf(event) : null, live: true, backfills: [] });
  return judgeSession(entries, () => undefined).state;
}
