import { describe, expect, it } from 'vitest';
import { billedCost, decimalText, expectedState, findPrice, foldSession, key, legacyEvents, nanos, priceBook, type ModelBackfill } from './model.js';
import { buildScenario, type JsonEvent, type PricePlan } from './scenario.js';

// The history checker's own model, on small hand-made ledgers whose answers follow from the
// rules in docs/architecture.md and docs/pricing.md by hand.

const T = Date.parse('2026-11-20T10:00:00Z');
const at = (s: number) => new Date(T + s * 1000).toISOString();
const ev = (id: string, type: JsonEvent['type'], s: number, extra: Partial<JsonEvent> = {}): JsonEvent => ({ event_id: id, session_id: 'S', type, occurred_at: at(s), ...(type === 'event.voided' ? {} : { agent_id: 'ag' }), ...extra });
const usage = (id: string, s: number, cost: string, extra: Partial<JsonEvent> = {}) => ev(id, 'llm.usage', s, { input_tokens: 10, output_tokens: 1, cost, ...extra });
const live = (events: JsonEvent[]) => new Map([['t', new Map(events.map((e) => [e.event_id, e]))]]);
const bf = (id: string, state: ModelBackfill['state'], members: JsonEvent[], replace = false, closedSeq: number | null = state === 'closed' ? 1 : null): ModelBackfill => ({ id, tenant: 't', replace, state, closedSeq, members });
const row = (x: ReturnType<typeof expectedState>) => x.sessions.get(key('t', 'S'));

describe('history model: the ledger rule', () => {
  it('a void counts wherever it came from, before or after its target; a staged event counts only once its backfill closes', () => {
    const target = usage('e2', 2, '1.5');
    const v = ev('v1', 'event.voided', 1, { voids_event_id: 'e2' });
    const base = [ev('e1', 'session.started', 0), usage('e3', 3, '0.25')];
    // The void is live, its target only in a backfill: open → the target does not count anyway; closed → voided.
    const open = expectedState({ live: live([...base, v]), backfills: [bf('B', 'open', [target])], book: [] });
    expect(row(open)?.costNanos).toBe(nanos('0.25'));
    expect(open.ledger.get(key('t', 'e2'))).toMatchObject({ staged: true, voidedBy: 'v1', counts: false });
    const closed = expectedState({ live: live([...base, v]), backfills: [bf('B', 'closed', [target])], book: [] });
    expect(row(closed)?.costNanos).toBe(nanos('0.25'));
    expect(closed.ledger.get(key('t', 'e2'))).toMatchObject({ staged: false, voidedBy: 'v1' });
    // The void staged in an open backfill does not apply; closed, it does; reverted, it is gone.
    expect(row(expectedState({ live: live([...base, target]), backfills: [bf('B', 'open', [v])], book: [] }))?.costNanos).toBe(nanos('1.75'));
    expect(row(expectedState({ live: live([...base, target]), backfills: [bf('B', 'closed', [v])], book: [] }))?.costNanos).toBe(nanos('0.25'));
    expect(row(expectedState({ live: live([...base, target]), backfills: [bf('B', 'reverted', [v])], book: [] }))?.costNanos).toBe(nanos('1.75'));
  });

  it('the least void id names a voided event; a void of a void and a void of another session change nothing', () => {
    const x = expectedState({
      live: live([usage('e1', 1, '1'), ev('vb', 'event.voided', 2, { voids_event_id: 'e1' }), ev('va', 'event.voided', 3, { voids_event_id: 'e1' }), ev('vv', 'event.voided', 4, { voids_event_id: 'va' }), { ...ev('vo', 'event.voided', 4, { voids_event_id: 'e9' }), session_id: 'other' }, usage('e9', 5, '2')]),
      backfills: [],
      book: [],
    });
    expect(x.ledger.get(key('t', 'e1'))?.voidedBy).toBe('va');
    expect(x.ledger.get(key('t', 'va'))?.voidedBy).toBeNull();
    expect(row(x)?.costNanos).toBe(nanos('2'));
    expect(x.sessions.has(key('t', 'other'))).toBe(false);
  });

  it('a closed replace-mode backfill owns its sessions: other events are set aside, its voids and live voids apply; reverted, they count again', () => {
    const liveEvents = [ev('l0', 'session.started', 0), usage('l1', 1, '5'), usage('shared', 2, '0.5'), ev('lv', 'event.voided', 3, { voids_event_id: 'r2' })];
    const replacement = [usage('r1', 1, '1'), usage('r2', 2, '2'), liveEvents[2] as JsonEvent];
    const owned = expectedState({ live: live(liveEvents), backfills: [bf('R', 'closed', replacement, true)], book: [] });
    expect(row(owned)).toMatchObject({ costNanos: nanos('1.5'), eventCount: 2n });
    expect(owned.owners.get(key('t', 'S'))).toBe('R');
    expect(owned.ledger.get(key('t', 'l1'))).toMatchObject({ replacedBy: 'R', counts: false });
    expect(owned.ledger.get(key('t', 'lv'))).toMatchObject({ replacedBy: null });
    const reverted = expectedState({ live: live(liveEvents), backfills: [bf('R', 'reverted', replacement, true)], book: [] });
    expect(row(reverted)).toMatchObject({ costNanos: nanos('5.5'), eventCount: 3n });
    expect(reverted.ledger.has(key('t', 'r1'))).toBe(false);
    // The replace-mode backfill closed last owns the session.
    const two = expectedState({ live: live(liveEvents), backfills: [bf('R', 'closed', replacement, true, 2), bf('Q', 'closed', [usage('q1', 1, '9')], true, 1)], book: [] });
    expect(two.owners.get(key('t', 'S'))).toBe('R');
    expect(two.ledger.get(key('t', 'q1'))?.replacedBy).toBe('R');
  });

  it('a session with no counting event has no row', () => {
    expect(expectedState({ live: live([ev('v', 'event.voided', 0, { voids_event_id: 'nothing' })]), backfills: [], book: [] }).sessions.size).toBe(0);
  });
});

describe('history model: the fold', () => {
  it('agent and team from the earliest event naming one, start from session.started, the end from the latest end (greater UTF-8 id on a tie)', () => {
    const s = foldSession(
      't',
      'S',
      [
        ev('a', 'tool.call', 5, { agent_id: 'late' }),
        ev('b', 'session.started', 10, { agent_id: 'starter', team_id: 'T2' }),
        ev('c', 'llm.usage', 1, { agent_id: 'first' }),
        ev('d', 'tool.call', 2, { team_id: 'T1' }),
        ev('end-\uff5e', 'session.ended', 20, { status: 'error' }),
        ev('end-\u{1f600}', 'session.ended', 20, { status: 'timeout' }),
        ev('early-end', 'session.ended', 19, { status: 'success' }),
      ],
      [],
    );
    expect(s).toMatchObject({ agentId: 'first', teamId: 'T1', startedAtMs: T + 10_000, endedAtMs: T + 20_000, status: 'timeout', eventCount: 7n, toolCalls: 2n, unpricedEvents: 1n });
  });
});

describe('history model: pricing', () => {
  const plan: PricePlan = {
    v1Version: 'a',
    v2Version: 'b',
    entries: [
      { model: 'm', effectiveFrom: '2020-01-01', v1: { input: '1', output: '2' }, v2: { input: '3', output: '4', cached: '0.5' } },
      { model: 'm', effectiveFrom: '2026-11-01', v1: { input: '10', output: '20' } },
      { model: 'm-*', effectiveFrom: '2020-01-01', v1: { input: '0.1', output: '0.2' } },
      { model: 'm-mini-*', effectiveFrom: '2020-01-01', v1: { input: '0.3', output: '0.4' } },
      { provider: 'p', model: 'm-*', effectiveFrom: '2020-01-01', v1: { input: '0.7', output: '0.8' } },
    ],
  };
  const at2025 = '2025-06-01T00:00:00Z';

  it('picks exact over prefix, longer prefix, named provider, then the latest effective date; a later version restates', () => {
    const v1 = priceBook(plan, 'v1');
    expect(findPrice(v1, null, 'm', Date.parse(at2025))?.input).toBe(nanos('1'));
    expect(findPrice(v1, null, 'm', T)?.input).toBe(nanos('10'));
    expect(findPrice(v1, null, 'm-mini-x', T)?.input).toBe(nanos('0.3'));
    expect(findPrice(v1, 'p', 'm-mini-x', T)?.input).toBe(nanos('0.3'));
    expect(findPrice(v1, 'p', 'm-x', T)?.input).toBe(nanos('0.7'));
    expect(findPrice(v1, null, 'mm', T)).toBeNull();
    expect(findPrice(v1, null, 'm', Date.parse('2019-12-31T23:59:59Z'))).toBeNull();
    const v2 = priceBook(plan, 'v1+v2');
    expect(findPrice(v2, null, 'm', Date.parse(at2025))).toMatchObject({ version: 'b', input: nanos('3'), cached: nanos('0.5'), reasoning: nanos('4') });
  });

  it('costs tokens kind by kind and rounds half up once per event; a reported cost wins; no price is unpriced', () => {
    const book = priceBook(plan, 'v1+v2');
    // 3 input at 3/M, 1 cached at 0.5/M, 1 output at 4/M, 1 reasoning at 4/M (defaults to output): 17.5/M.
    const e: JsonEvent = { event_id: 'x', session_id: 'S', type: 'llm.usage', occurred_at: at2025, agent_id: 'a', model: 'm', input_tokens: 3, cached_input_tokens: 1, output_tokens: 1, reasoning_tokens: 1 };
    expect(decimalText(billedCost(book, e) as bigint)).toBe('0.0000175');
    expect(billedCost(book, { ...e, cost: '0.5' })).toBe(nanos('0.5'));
    expect(billedCost(book, { ...e, model: 'other' })).toBeNull();
    expect(billedCost(book, { ...e, model: undefined })).toBeNull();
    // One nano-unit per million input tokens, two per million output: half a nano-unit rounds up, once per event.
    const tiny = priceBook({ v1Version: 'a', v2Version: 'b', entries: [{ model: 'r', effectiveFrom: '2020-01-01', v1: { input: '0.000000001', output: '0.000000002' } }] }, 'v1');
    const r: JsonEvent = { ...e, model: 'r', cached_input_tokens: 0, reasoning_tokens: 0, output_tokens: 0 };
    expect(billedCost(tiny, { ...r, input_tokens: 500_000 })).toBe(1n);
    expect(billedCost(tiny, { ...r, input_tokens: 499_999 })).toBe(0n);
    expect(billedCost(tiny, { ...r, input_tokens: 250_000, output_tokens: 125_000 })).toBe(1n);
  });

  it('legacy summaries derive three events with the documented ids', () => {
    const events = legacyEvents({ sessionId: 'L', agentId: 'a', startedAt: at(0), durationMs: 5000, status: 'success', inputTokens: 3, outputTokens: 4, model: 'm' });
    expect(events.map((x) => [x.event_id, x.type, x.occurred_at])).toEqual([
      ['legacy:L:started', 'session.started', at(0)],
      ['legacy:L:usage', 'llm.usage', at(5)],
      ['legacy:L:ended', 'session.ended', at(5)],
    ]);
  });
});

describe('history scenario', () => {
  it('is the same for the same seed, and reuses an id only with identical content', () => {
    const a = buildScenario(7, T);
    const b = buildScenario(7, T);
    expect(JSON.stringify(a.batches)).toBe(JSON.stringify(b.batches));
    const seen = new Map<string, string>();
    const all = [...[...a.liveEvents].flatMap(([t, m]) => [...m.values()].map((e) => [t, e] as const)), ...Object.values(a.backfills).flatMap((p) => [...p.fileEvents, ...p.lateDuring, ...p.lateAfter].map((e) => [p.tenant, e] as const))];
    for (const [t, e] of all) {
      const k = `${t}/${e.event_id}`;
      const text = JSON.stringify(e);
      expect(seen.get(k) ?? text, k).toBe(text);
      seen.set(k, text);
    }
  });
});
