import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_EVENT_FIELDS, END_STATUSES, type EndStatus, type EventType, type TraceEvent } from './events.js';
import type { PricedCost } from './pricing.js';
import {
  aggregateBySession,
  compareKeys,
  dedupeEvents,
  eventToState,
  mergeStates,
  sessionEndMs,
  sessionKey,
  sessionStartMs,
  sessionStatus,
  UNKNOWN_MODEL,
  MAX_MODELS_PER_SESSION,
  OTHER_MODELS,
  type EventKey,
  type ModelUsage,
  type SessionState,
} from './fold.js';
import { foldSession } from './ledger.js';

const T0 = Date.UTC(2026, 10, 25, 12);

/** A contract-valid event with every optional field empty; `over` sets what the test cares about. */
function ev(over: Partial<TraceEvent> & Pick<TraceEvent, 'eventId' | 'type'>): TraceEvent {
  return {
    ...EMPTY_EVENT_FIELDS,
    tenantId: 'tenant-a',
    sessionId: 'session-1',
    occurredAtMs: T0,
    ...over,
  };
}

// Characters whose UTF-16 order differs from their UTF-8 byte order (U+FF61 sorts after the
// surrogate pair of U+1F600 in UTF-16, before it in UTF-8), so ties exercise the byte order.
const ID_CHARS = ['a', 'B', '0', '-', 'é', '\u00ff', '\u0100', '\uff61', '\u{1f600}'];
const idArb = fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 3 }).map((cs) => cs.join(''));

const countedTypes: EventType[] = ['session.started', 'llm.usage', 'tool.call', 'session.ended'];

/** One non-void event; times fall within a few ms so that ties in occurredAt are common. */
function eventArb(tenants: string[], sessions: string[]): fc.Arbitrary<TraceEvent> {
  return fc
    .record({
      eventId: idArb,
      tenantId: fc.constantFrom(...tenants),
      sessionId: fc.constantFrom(...sessions),
      type: fc.constantFrom(...countedTypes),
      occurredAtMs: fc.integer({ min: T0, max: T0 + 4 }),
      agentId: fc.option(fc.constantFrom('agent-x', 'agent-y', 'agent-z')),
      teamId: fc.option(fc.constantFrom('team-1', 'team-2')),
      inputTokens: fc.nat({ max: 2_000_000 }),
      outputTokens: fc.nat({ max: 2_000_000 }),
      cachedInputTokens: fc.nat({ max: 1_000_000 }),
      reasoningTokens: fc.nat({ max: 1_000_000 }),
      costNanos: fc.option(fc.bigInt({ min: 0n, max: 1_000_000_000_000_000n })),
      status: fc.constantFrom<EndStatus>(...END_STATUSES),
    })
    .map((r) =>
      ev({
        ...r,
        ...(r.type === 'llm.usage' ? {} : { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, costNanos: null }),
        status: r.type === 'session.ended' ? r.status : null,
        toolName: r.type === 'tool.call' ? 'search' : null,
      }),
    );
}

/** Distinct events: event ids are unique per tenant (and deliberately reused across tenants). */
function eventsArb(tenants: string[], sessions: string[], maxLength = 40): fc.Arbitrary<TraceEvent[]> {
  return fc.uniqueArray(eventArb(tenants, sessions), { selector: (e) => sessionKey(e.tenantId, e.eventId), maxLength, size: 'medium' });
}

function utf8Compare(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  }
  return x.length - y.length;
}

function keyOrder(a: TraceEvent, b: TraceEvent): number {
  return a.occurredAtMs - b.occurredAtMs || utf8Compare(a.eventId, b.eventId);
}

function keyOf(e: TraceEvent): EventKey {
  return { atMs: e.occurredAtMs, eventId: e.eventId };
}

/**
 * The fold written the obvious way (sort, then read off the answers), independent of the
 * incremental eventToState/mergeStates: one state per session over distinct, non-void events.
 */
function modelFold(events: readonly TraceEvent[]): Map<string, SessionState> {
  const bySession = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (e.type === 'event.voided') continue;
    const k = sessionKey(e.tenantId, e.sessionId);
    bySession.set(k, [...(bySession.get(k) ?? []), e]);
  }
  const out = new Map<string, SessionState>();
  for (const [k, list] of bySession) {
    const sorted = [...list].sort(keyOrder);
    const first = sorted[0] as TraceEvent;
    const agentEvent = sorted.find((e) => e.agentId !== null);
    const teamEvent = sorted.find((e) => e.teamId !== null);
    const endEvent = sorted.filter((e) => e.type === 'session.ended').at(-1);
    const starts = sorted.filter((e) => e.type === 'session.started');
    const usage = sorted.filter((e) => e.type === 'llm.usage');
    const sum = (f: (e: TraceEvent) => number): bigint => usage.reduce((acc, e) => acc + BigInt(f(e)), 0n);
    out.set(k, {
      tenantId: first.tenantId,
      sessionId: first.sessionId,
      agentId: agentEvent?.agentId ?? null,
      agentKey: agentEvent ? keyOf(agentEvent) : null,
      teamId: teamEvent?.teamId ?? null,
      teamKey: teamEvent ? keyOf(teamEvent) : null,
      startedAtMs: starts[0]?.occurredAtMs ?? null,
      firstEventAtMs: first.occurredAtMs,
      lastEventAtMs: Math.max(...sorted.map((e) => e.occurredAtMs)),
      end: endEvent ? { key: keyOf(endEvent), status: endEvent.status as EndStatus } : null,
      inputTokens: sum((e) => e.inputTokens),
      outputTokens: sum((e) => e.outputTokens),
      cachedInputTokens: sum((e) => e.cachedInputTokens),
      reasoningTokens: sum((e) => e.reasoningTokens),
      costNanos: usage.reduce((acc, e) => acc + (e.costNanos ?? 0n), 0n),
      unpricedEvents: usage.filter((e) => e.costNanos === null).length,
      unpricedTokens: usage
        .filter((e) => e.costNanos === null)
        .reduce((acc, e) => acc + BigInt(e.inputTokens + e.outputTokens + e.cachedInputTokens + e.reasoningTokens), 0n),
      priceVersion: null,
      toolCalls: sorted.filter((e) => e.type === 'tool.call').length,
      eventCount: sorted.length,
      models: modelUsage(usage),
    });
  }
  return out;
}

/** Per-model usage computed directly: group by model, then sum. */
function modelUsage(usage: readonly TraceEvent[]): Record<string, ModelUsage> {
  const out: Record<string, ModelUsage> = {};
  for (const model of new Set(usage.map((e) => e.model ?? UNKNOWN_MODEL))) {
    const of = usage.filter((e) => (e.model ?? UNKNOWN_MODEL) === model);
    out[model] = {
      inputTokens: of.reduce((n, e) => n + BigInt(e.inputTokens), 0n),
      outputTokens: of.reduce((n, e) => n + BigInt(e.outputTokens), 0n),
      cachedInputTokens: of.reduce((n, e) => n + BigInt(e.cachedInputTokens), 0n),
      reasoningTokens: of.reduce((n, e) => n + BigInt(e.reasoningTokens), 0n),
      costNanos: of.reduce((n, e) => n + (e.costNanos ?? 0n), 0n),
      events: of.length,
      unpricedEvents: of.filter((e) => e.costNanos === null).length,
      unpricedTokens: of
        .filter((e) => e.costNanos === null)
        .reduce((n, e) => n + BigInt(e.inputTokens + e.outputTokens + e.cachedInputTokens + e.reasoningTokens), 0n),
    };
  }
  return out;
}

function sortedEntries(m: Map<string, SessionState>): [string, SessionState][] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Splits `items` into consecutive batches at the given cut points. */
function splitAt<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of [...points, items.length]) {
    out.push(items.slice(from, p));
    from = p;
  }
  return out;
}

function mergeMaps(maps: readonly Map<string, SessionState>[]): Map<string, SessionState> {
  const out = new Map<string, SessionState>();
  for (const m of maps) {
    for (const [k, s] of m) {
      const prev = out.get(k);
      out.set(k, prev === undefined ? s : mergeStates(prev, s));
    }
  }
  return out;
}

function foldAll(events: readonly TraceEvent[]): SessionState {
  const [first, ...rest] = events.map((e) => eventToState(e));
  if (first === undefined) throw new Error('no events');
  return rest.reduce(mergeStates, first);
}

const tenantsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 });
const sessionsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 });
const worldArb = fc.tuple(tenantsArb, sessionsArb).chain(([tenants, sessions]) => eventsArb(tenants, sessions));

describe('fold properties', () => {
  it('gives the same states however events are shuffled, redelivered, batched and merged', () => {
    fc.assert(
      fc.property(
        worldArb.chain((events) =>
          fc.record({
            events: fc.constant(events),
            delivered: fc.shuffledSubarray([...events, ...events], { minLength: 2 * events.length, maxLength: 2 * events.length }),
            redeliveries: fc.subarray(events),
            cuts: fc.array(fc.nat(), { maxLength: 6 }),
            mergeOrder: fc.infiniteStream(fc.nat()),
          }),
        ),
        ({ events, delivered, redeliveries, cuts, mergeOrder }) => {
          const distinct = dedupeEvents([...delivered, ...redeliveries]);
          expect(distinct).toHaveLength(events.length);
          const perBatch = splitAt(distinct, cuts).map((batch) => aggregateBySession(batch));
          // Merge the per-batch states in a random order.
          const order = perBatch.map((m, i) => ({ m, r: mergeOrder.next().value as number, i }));
          order.sort((a, b) => a.r - b.r || a.i - b.i);
          const merged = mergeMaps(order.map((o) => o.m));
          const expected = sortedEntries(modelFold(events));
          expect(sortedEntries(merged)).toEqual(expected);
          expect(sortedEntries(aggregateBySession(events))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('foldSession of one session equals the model, in any order and with duplicates', () => {
    fc.assert(
      fc.property(
        eventsArb(['t'], ['s'], 30).filter((es) => es.length > 0).chain((events) =>
          fc.tuple(fc.constant(events), fc.shuffledSubarray([...events, ...events], { minLength: 2 * events.length, maxLength: 2 * events.length })),
        ),
        ([events, delivered]) => {
          expect(foldSession(delivered)).toEqual(modelFold(events).get(sessionKey('t', 's')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('mergeStates is commutative and associative over states of disjoint events', () => {
    const threeParts = eventsArb(['t'], ['s'], 30)
      .filter((es) => es.length >= 3)
      .chain((es) => fc.tuple(fc.constant(es), fc.integer({ min: 1, max: es.length - 2 })).chain(([es2, i]) =>
        fc.tuple(fc.constant(es2), fc.constant(i), fc.integer({ min: i + 1, max: es2.length - 1 })),
      ));
    fc.assert(
      fc.property(threeParts, ([events, i, j]) => {
        const a = foldAll(events.slice(0, i));
        const b = foldAll(events.slice(i, j));
        const c = foldAll(events.slice(j));
        expect(mergeStates(a, b)).toEqual(mergeStates(b, a));
        expect(mergeStates(mergeStates(a, b), c)).toEqual(mergeStates(a, mergeStates(b, c)));
        expect(mergeStates(mergeStates(a, b), c)).toEqual(modelFold(events).get(sessionKey('t', 's')));
      }),
      { numRuns: 300 },
    );
  });

  it('voiding an event removes exactly it; voiding it twice or redelivering the void changes nothing more', () => {
    fc.assert(
      fc.property(
        eventsArb(['t'], ['s'], 20)
          .filter((es) => es.length > 0)
          .chain((events) =>
            fc.record({
              events: fc.constant(events),
              target: fc.nat({ max: events.length - 1 }),
              seed: fc.nat(),
            }),
          ),
        ({ events, target, seed }) => {
          const victim = events[target] as TraceEvent;
          const ids = new Set(events.map((e) => e.eventId));
          const voidId = (n: number): string => {
            let id = `void-${n}`;
            while (ids.has(id)) id += '+';
            return id;
          };
          const void1 = ev({ eventId: voidId(1), tenantId: 't', sessionId: 's', type: 'event.voided', voidsEventId: victim.eventId, occurredAtMs: T0 + 10 });
          const void2 = ev({ eventId: voidId(2), tenantId: 't', sessionId: 's', type: 'event.voided', voidsEventId: victim.eventId, occurredAtMs: T0 - 10 });
          const rest = events.filter((e) => e !== victim);
          const expected = rest.length === 0 ? null : (modelFold(rest).get(sessionKey('t', 's')) ?? null);
          const once = foldSession(rotate([...events, void1], seed));
          const twice = foldSession(rotate([void2, ...events, void1, void1], seed));
          expect(once).toEqual(expected);
          expect(twice).toEqual(once);
          // The void itself is not an event of the session's counts.
          expect(foldSession([void1])).toBeNull();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('dedupeEvents keeps the first of each (tenant, event id), in order of first appearance', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ tenantId: fc.constantFrom('t1', 't2'), eventId: fc.constantFrom('a', 'b', 'c'), n: fc.nat() })), (list) => {
        const out = dedupeEvents(list);
        const firsts = list.filter((e, i) => list.findIndex((f) => f.tenantId === e.tenantId && f.eventId === e.eventId) === i);
        expect(out).toEqual(firsts);
      }),
    );
  });
});

function rotate<T>(items: T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

describe('fold examples', () => {
  const usage = (eventId: string, at: number, over: Partial<TraceEvent> = {}): TraceEvent =>
    ev({ eventId, type: 'llm.usage', occurredAtMs: T0 + at, agentId: 'agent-x', provider: 'openai', model: 'gpt-4o', ...over });

  it('sums tokens and cost exactly and counts tools, unpriced usage and events', () => {
    const events = [
      ev({ eventId: 'e1', type: 'session.started', occurredAtMs: T0, agentId: 'agent-x', teamId: 'team-1' }),
      usage('e2', 1_000, { inputTokens: 1200, outputTokens: 300, cachedInputTokens: 100, reasoningTokens: 50, costNanos: 12_500_000n }),
      usage('e3', 2_000, { inputTokens: 800, outputTokens: 200, reasoningTokens: 25, costNanos: 100n }),
      usage('e4', 3_000, { inputTokens: 5, outputTokens: 7, costNanos: null }),
      ev({ eventId: 'e5', type: 'tool.call', occurredAtMs: T0 + 4_000, agentId: 'agent-x', toolName: 'search', durationMs: 120 }),
      ev({ eventId: 'e6', type: 'tool.call', occurredAtMs: T0 + 5_000, agentId: 'agent-x', toolName: 'fetch' }),
      ev({ eventId: 'e7', type: 'session.ended', occurredAtMs: T0 + 6_000, agentId: 'agent-x', status: 'success' }),
    ];
    const s = foldSession(events);
    expect(s).toEqual({
      tenantId: 'tenant-a',
      sessionId: 'session-1',
      agentId: 'agent-x',
      agentKey: { atMs: T0, eventId: 'e1' },
      teamId: 'team-1',
      teamKey: { atMs: T0, eventId: 'e1' },
      startedAtMs: T0,
      firstEventAtMs: T0,
      lastEventAtMs: T0 + 6_000,
      end: { key: { atMs: T0 + 6_000, eventId: 'e7' }, status: 'success' },
      inputTokens: 2005n,
      outputTokens: 507n,
      cachedInputTokens: 100n,
      reasoningTokens: 75n,
      costNanos: 12_500_100n, // 0.0125 + 0.0000001
      unpricedEvents: 1,
      unpricedTokens: 12n,
      priceVersion: null,
      toolCalls: 2,
      eventCount: 7,
      models: {
        'gpt-4o': { inputTokens: 2005n, outputTokens: 507n, cachedInputTokens: 100n, reasoningTokens: 75n, costNanos: 12_500_100n, events: 3, unpricedEvents: 1, unpricedTokens: 12n },
      },
    } satisfies SessionState);
    expect(sessionStatus(s as SessionState)).toBe('success');
    expect(sessionStartMs(s as SessionState)).toBe(T0);
    expect(sessionEndMs(s as SessionState)).toBe(T0 + 6_000);
  });

  it('prices with priceOf when given, and counts usage it cannot price as unpriced', () => {
    const events = [
      usage('u1', 0, { inputTokens: 1_000, outputTokens: 10, costNanos: 999n }),
      usage('u2', 1, { inputTokens: 2_000, outputTokens: 20, costNanos: null }),
      usage('u3', 2, { model: 'unknown-model', inputTokens: 3, costNanos: 5n }),
    ];
    // 3 nanos per input token and 15 per output token, for the one model with a price.
    const priceOf = (e: TraceEvent): PricedCost | null =>
      e.model === 'gpt-4o'
        ? { costNanos: BigInt(e.inputTokens) * 3n + BigInt(e.outputTokens) * 15n, source: 'book', priceVersion: e.eventId === 'u1' ? '2026-01' : '2026-02' }
        : null;
    const s = foldSession(events, priceOf);
    expect(s?.costNanos).toBe(3_150n + 6_300n);
    expect(s?.unpricedEvents).toBe(1);
    expect(s?.unpricedTokens).toBe(3n);
    // The row records the latest price-book version any of its events used.
    expect(s?.priceVersion).toBe('2026-02');
    const [agg] = aggregateBySession(events, priceOf).values();
    expect(agg).toEqual(s);
    // Cost belongs to usage only: a price for another type is ignored.
    expect(eventToState(ev({ eventId: 'x', type: 'tool.call' }), { costNanos: 42n, source: 'book', priceVersion: 'v' }).costNanos).toBe(0n);
    expect(eventToState(ev({ eventId: 'x', type: 'tool.call' }), null).unpricedEvents).toBe(0);
  });

  it('keeps tenants and sessions apart, even when event ids repeat across tenants', () => {
    const a = usage('same-id', 0, { tenantId: 't1', inputTokens: 10 });
    const b = usage('same-id', 0, { tenantId: 't2', inputTokens: 20 });
    const c = usage('other', 0, { tenantId: 't1', sessionId: 'session-2', inputTokens: 40 });
    expect(dedupeEvents([a, b, a, c])).toEqual([a, b, c]);
    const states = aggregateBySession(dedupeEvents([a, b, a, c]));
    expect(states.get(sessionKey('t1', 'session-1'))?.inputTokens).toBe(10n);
    expect(states.get(sessionKey('t2', 'session-1'))?.inputTokens).toBe(20n);
    expect(states.get(sessionKey('t1', 'session-2'))?.inputTokens).toBe(40n);
    expect(states.size).toBe(3);
  });

  it('ends with the latest end event; a tie in time goes to the greater event id', () => {
    const ended = (eventId: string, at: number, status: EndStatus): TraceEvent =>
      ev({ eventId, type: 'session.ended', occurredAtMs: T0 + at, agentId: 'agent-x', status });
    const late = [ended('zzz', 5, 'error'), ended('aaa', 9, 'timeout')];
    expect(foldSession(late)?.end?.status).toBe('timeout');
    expect(foldSession([...late].reverse())?.end?.status).toBe('timeout');
    const tie = [ended('b', 5, 'success'), ended('a', 5, 'error')];
    expect(foldSession(tie)?.end).toEqual({ key: { atMs: T0 + 5, eventId: 'b' }, status: 'success' });
    expect(foldSession([...tie].reverse())?.end?.status).toBe('success');
  });

  it('breaks ties by UTF-8 bytes, not UTF-16 code units (as Postgres COLLATE "C" does)', () => {
    const halfwidth = '\uff61'; // UTF-8 EF BD A1; UTF-16 FF61
    const emoji = '\u{1f600}'; // UTF-8 F0 9F 98 80; UTF-16 D83D DE00
    expect(halfwidth > emoji).toBe(true); // JavaScript's own order is the wrong one here
    expect(compareKeys({ atMs: T0, eventId: emoji }, { atMs: T0, eventId: halfwidth })).toBeGreaterThan(0);
    expect(compareKeys({ atMs: T0, eventId: halfwidth }, { atMs: T0, eventId: emoji })).toBeLessThan(0);
    expect(compareKeys({ atMs: T0, eventId: emoji }, { atMs: T0, eventId: emoji })).toBe(0);
    expect(compareKeys({ atMs: T0 + 1, eventId: 'a' }, { atMs: T0, eventId: emoji })).toBeGreaterThan(0);
    const ends = [
      ev({ eventId: emoji, type: 'session.ended', status: 'cancelled', agentId: 'agent-x' }),
      ev({ eventId: halfwidth, type: 'session.ended', status: 'success', agentId: 'agent-y' }),
    ];
    const s = foldSession(ends);
    expect(s?.end?.status).toBe('cancelled');
    // ... and the earliest-naming rule picks the smaller id on a tie.
    expect(s?.agentId).toBe('agent-y');
    expect(foldSession([...ends].reverse())).toEqual(s);
  });

  it('takes agent and team from the earliest event naming one, whatever the arrival order', () => {
    const events = [
      ev({ eventId: 'e1', type: 'session.started', occurredAtMs: T0 }),
      ev({ eventId: 'e2', type: 'tool.call', occurredAtMs: T0 + 3, agentId: 'late-agent', teamId: 'late-team' }),
      ev({ eventId: 'e3', type: 'tool.call', occurredAtMs: T0 + 2, agentId: 'early-agent' }),
      ev({ eventId: 'e4', type: 'tool.call', occurredAtMs: T0 + 2, agentId: 'same-time-bigger-id', teamId: 'early-team' }),
    ];
    for (const order of [events, [...events].reverse(), [events[2], events[0], events[3], events[1]] as TraceEvent[]]) {
      const s = foldSession(order);
      expect(s?.agentId).toBe('early-agent');
      expect(s?.teamId).toBe('early-team');
    }
  });

  it('is running with no end event, and starts at the earliest event when no start was seen', () => {
    const s = foldSession([usage('u1', 7_000), usage('u2', 3_000)]) as SessionState;
    expect(sessionStatus(s)).toBe('running');
    expect(s.startedAtMs).toBeNull();
    expect(sessionStartMs(s)).toBe(T0 + 3_000);
    expect(sessionEndMs(s)).toBeNull();
    // A later start event moves the session start to it, even though earlier events exist.
    const withStart = foldSession([usage('u1', 7_000), usage('u2', 3_000), ev({ eventId: 's', type: 'session.started', occurredAtMs: T0 + 5_000 })]);
    expect(sessionStartMs(withStart as SessionState)).toBe(T0 + 5_000);
  });

  it('applies a void only to the event it names, and returns null when nothing countable remains', () => {
    const u1 = usage('u1', 0, { inputTokens: 100, costNanos: 1_000n });
    const u2 = usage('u2', 1, { inputTokens: 50, costNanos: 7n });
    const voidU1 = ev({ eventId: 'v1', type: 'event.voided', voidsEventId: 'u1', occurredAtMs: T0 + 9 });
    const s = foldSession([voidU1, u1, u2]);
    expect(s).toMatchObject({ inputTokens: 50n, costNanos: 7n, eventCount: 1 });
    expect(foldSession([voidU1, u1])).toBeNull();
    expect(foldSession([])).toBeNull();
    // Voids never enter the pre-aggregation.
    expect(aggregateBySession([voidU1]).size).toBe(0);
  });
});

describe('the per-model cap', () => {
  it('keeps the smallest model names and sums the rest under OTHER_MODELS, whatever the order and split', () => {
    const events = Array.from({ length: MAX_MODELS_PER_SESSION + 40 }, (_, i) =>
      ev({ eventId: `m${i}`, type: 'llm.usage', occurredAtMs: T0 + i, model: `model-${String((i * 53) % (MAX_MODELS_PER_SESSION + 40)).padStart(3, '0')}`, inputTokens: i + 1, costNanos: BigInt(i) }),
    );
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 30 }), (seed, chunk) => {
        const shuffled = [...events].sort((a, b) => ((Number(a.eventId.slice(1)) * 7919 + seed) % 97) - ((Number(b.eventId.slice(1)) * 7919 + seed) % 97));
        let state: SessionState | undefined;
        for (let i = 0; i < shuffled.length; i += chunk) {
          const [part] = aggregateBySession(shuffled.slice(i, i + chunk)).values();
          if (part) state = state === undefined ? part : mergeStates(state, part);
        }
        const models = Object.keys(state?.models ?? {});
        expect(models).toHaveLength(MAX_MODELS_PER_SESSION + 1);
        expect(models.filter((m) => m !== OTHER_MODELS).sort().at(-1)).toBe(`model-${String(MAX_MODELS_PER_SESSION - 1).padStart(3, '0')}`);
        expect(state?.models[OTHER_MODELS]?.events).toBe(40);
        const total = Object.values(state?.models ?? {}).reduce((n, u) => n + u.inputTokens, 0n);
        expect(total).toBe(state?.inputTokens);
        return true;
      }),
      { numRuns: 200 },
    );
  });
});

