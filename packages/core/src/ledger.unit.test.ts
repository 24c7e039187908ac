import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { traceEvent, type TraceEvent } from './events.js';
import { backfillArrival, judgeSession, sessionOwner, type BackfillInfo, type LedgerEntry } from './ledger.js';

// The ledger's rule (docs/architecture.md, "The ledger and what counts"), checked against the
// documented steps one by one and, for arbitrary sessions, against a direct restatement of them.

const T = Date.UTC(2026, 10, 1);
const usage = (id: string, over: Partial<TraceEvent> = {}): TraceEvent =>
  traceEvent({ eventId: id, tenantId: 't', sessionId: 's', type: 'llm.usage', occurredAtMs: T, inputTokens: 1, costNanos: 1n, ...over });
const voidOf = (id: string, target: string): TraceEvent => traceEvent({ eventId: id, tenantId: 't', sessionId: 's', type: 'event.voided', occurredAtMs: T, voidsEventId: target });
const entry = (event: TraceEvent, live: boolean, backfills: string[] = []): LedgerEntry => ({ event, billed: event.costNanos === null ? null : { costNanos: event.costNanos, source: 'reported', priceVersion: null }, live, backfills });
const bf = (id: string, state: BackfillInfo['state'], replace = false, closedSeq: bigint | null = state === 'closed' ? 1n : null): BackfillInfo => ({ backfillId: id, tenantId: 't', state, replace, closedSeq });
const lookup = (...infos: BackfillInfo[]) => (id: string) => infos.find((b) => b.backfillId === id);
const counted = (entries: LedgerEntry[], ...infos: BackfillInfo[]) => judgeSession(entries, lookup(...infos)).counting.map((e) => e.event.eventId).sort();

describe('what counts', () => {
  it('stages events of an open backfill and counts them once it is closed', () => {
    const entries = [entry(usage('live'), true), entry(usage('h1'), false, ['b'])];
    expect(counted(entries, bf('b', 'open'))).toEqual(['live']);
    expect(judgeSession(entries, lookup(bf('b', 'open'))).marks.get('h1')).toEqual({ staged: true, voidedBy: null, replacedBy: null });
    expect(counted(entries, bf('b', 'closed'))).toEqual(['h1', 'live']);
    expect(counted(entries, bf('b', 'reverted'))).toEqual(['live']);
  });

  it('counts an event that arrived live whatever its backfills say', () => {
    expect(counted([entry(usage('both'), true, ['b'])], bf('b', 'reverted'))).toEqual(['both']);
    expect(counted([entry(usage('both'), true, ['b'])], bf('b', 'open'))).toEqual(['both']);
  });

  it('lets the replace-mode backfill closed last own a session: other non-void events are set aside', () => {
    const entries = [entry(usage('old'), true), entry(usage('b1'), false, ['r1']), entry(usage('b2'), false, ['r2']), entry(usage('shared'), true, ['r2'])];
    const r1 = bf('r1', 'closed', true, 1n);
    const r2 = bf('r2', 'closed', true, 2n);
    expect(sessionOwner(entries, lookup(r1, r2))).toBe('r2');
    expect(counted(entries, r1, r2)).toEqual(['b2', 'shared']);
    const marks = judgeSession(entries, lookup(r1, r2)).marks;
    expect(marks.get('old')?.replacedBy).toBe('r2');
    expect(marks.get('b1')?.replacedBy).toBe('r2');
    // r2 reverted: r1 owns the session again.
    expect(counted(entries, r1, { ...r2, state: 'reverted', closedSeq: null })).toEqual(['b1']);
    // A non-replace backfill owns nothing.
    expect(counted(entries, bf('r1', 'closed', false), bf('r2', 'closed', false))).toEqual(['b1', 'b2', 'old', 'shared']);
  });

  it('applies an effective void to the non-void event it names, from any source, never a replaced or staged one', () => {
    expect(counted([entry(voidOf('v', 'u'), true), entry(usage('u'), false, ['b'])], bf('b', 'closed'))).toEqual([]);
    expect(counted([entry(voidOf('v', 'u'), false, ['b']), entry(usage('u'), true)], bf('b', 'open'))).toEqual(['u']);
    // Voids are never replaced: a live void of the owner's event applies.
    expect(counted([entry(voidOf('v', 'h'), true), entry(usage('h'), false, ['r'])], bf('r', 'closed', true))).toEqual([]);
    // A void of a void does nothing; the least void id is recorded.
    const j = judgeSession([entry(voidOf('v2', 'u'), true), entry(voidOf('v1', 'u'), true), entry(voidOf('v3', 'v1'), true), entry(usage('u'), true)], () => undefined);
    expect(j.marks.get('u')?.voidedBy).toBe('v1');
    expect(j.marks.get('v1')?.voidedBy).toBeNull();
    expect(j.state).toBeNull();
  });

  it('decides the backfill lifecycle of a record by the state it finds', () => {
    expect(backfillArrival(bf('b', 'open'), 'b', 't')).toEqual({ kind: 'stage' });
    expect(backfillArrival(bf('b', 'closed'), 'b', 't')).toEqual({ kind: 'count' });
    expect(backfillArrival(bf('b', 'reverted'), 'b', 't')).toMatchObject({ kind: 'refuse', code: 'TL_BACKFILL_REVERTED' });
    expect(backfillArrival(undefined, 'b', 't')).toMatchObject({ kind: 'refuse', code: 'TL_BACKFILL_UNKNOWN' });
    expect(backfillArrival(bf('b', 'open'), 'b', 'another-tenant')).toMatchObject({ kind: 'refuse', code: 'TL_BACKFILL_UNKNOWN' });
  });

  it('for any session, counts exactly what the documented steps say, in any order of its rows', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const backfills = ['r', 'x'];
    const arbEntry = fc.record({
      id: fc.constantFrom(...ids),
      isVoid: fc.boolean(),
      target: fc.constantFrom(...ids),
      live: fc.boolean(),
      members: fc.subarray(backfills),
    });
    const arbStates = fc.record({ r: fc.constantFrom('open', 'closed', 'reverted'), x: fc.constantFrom('open', 'closed', 'reverted'), rReplace: fc.boolean(), xReplace: fc.boolean(), rFirst: fc.boolean() });
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 8 }), arbStates, fc.nat(), (raw, st, seed) => {
        // First row of each id wins, as in the ledger.
        const seen = new Set<string>();
        const rows = raw.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
        const infos = [
          bf('r', st.r as BackfillInfo['state'], st.rReplace, st.r === 'closed' ? (st.rFirst ? 1n : 2n) : null),
          bf('x', st.x as BackfillInfo['state'], st.xReplace, st.x === 'closed' ? (st.rFirst ? 2n : 1n) : null),
        ];
        const entries = rows.map((r) => entry(r.isVoid && r.target !== r.id ? voidOf(r.id, r.target) : usage(r.id), r.live, r.members));
        // The steps, restated directly.
        const state = (b: string) => infos.find((i) => i.backfillId === b) as BackfillInfo;
        const inForce = (e: LedgerEntry) => e.live || e.backfills.some((b) => state(b).state === 'closed');
        const owners = infos.filter((i) => i.state === 'closed' && i.replace && entries.some((e) => e.backfills.includes(i.backfillId)));
        const owner = owners.sort((a, b) => Number((b.closedSeq ?? 0n) - (a.closedSeq ?? 0n)))[0]?.backfillId ?? null;
        const effective = (e: LedgerEntry) => inForce(e) && (e.event.type === 'event.voided' || owner === null || e.backfills.includes(owner));
        const voided = (e: LedgerEntry) =>
          entries.some((v) => v.event.type === 'event.voided' && effective(v) && v.event.voidsEventId === e.event.eventId);
        const expected = entries.filter((e) => e.event.type !== 'event.voided' && effective(e) && !voided(e)).map((e) => e.event.eventId).sort();
        const shuffled = [...entries].sort((a, b) => ((a.event.eventId.charCodeAt(0) * 31 + seed) % 7) - ((b.event.eventId.charCodeAt(0) * 31 + seed) % 7));
        const judged = judgeSession(shuffled, lookup(...infos));
        expect(judged.counting.map((e) => e.event.eventId).sort()).toEqual(expected);
        expect(judged.owner).toBe(owner);
        expect(judged.state?.eventCount ?? 0).toBe(expected.length);
      }),
      { numRuns: 2000 },
    );
  });
});
