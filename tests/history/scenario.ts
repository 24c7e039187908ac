import { seededRandom } from '@traceledger/core';

/**
 * The content of one seed's history: every event, batch, backfill file, late record, legacy
 * summary, price file and the planned moment of every operation, all drawn from the seed. Pure:
 * the same seed gives the same scenario (the wall clock enters only through `t0Ms`, the instant
 * every event time is relative to). What the run then does with it (which attempt got a 503,
 * which consumer folded what, how operations interleaved) is recorded, not planned.
 */

export type EventType = 'session.started' | 'llm.usage' | 'tool.call' | 'session.ended' | 'event.voided';

/** An event as a producer posts it (docs/contract.md). */
export interface JsonEvent {
  event_id: string;
  session_id: string;
  type: EventType;
  occurred_at: string;
  agent_id?: string;
  team_id?: string;
  provider?: string;
  model?: string;
  input_tokens?: number;
  output_tokens?: number;
  cached_input_tokens?: number;
  reasoning_tokens?: number;
  cost?: string;
  tool_name?: string;
  duration_ms?: number;
  status?: string;
  voids_event_id?: string;
  reason?: string;
}

/** The old platform's summary (POST /api/billing/ingest). */
export interface LegacySummary {
  sessionId: string;
  agentId: string;
  teamId?: string | null;
  startedAt: string;
  endedAt?: string | null;
  durationMs?: number | null;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cost?: string | null;
  model?: string | null;
}

export interface LegacyPlan {
  tenant: string;
  first: LegacySummary;
  /** Post the first summary a second time, unchanged (counts once). */
  repost: boolean;
  /** Other numbers for the same session, posted once the first is in the ledger: must not add. */
  second: LegacySummary;
}

/** Per-million prices as decimal text, as in a price file (cached and reasoning may default). */
export interface PriceTriple {
  input: string;
  output: string;
  cached?: string;
  reasoning?: string;
}

export interface PriceEntrySpec {
  provider?: string;
  model: string;
  effectiveFrom: string;
  v1: PriceTriple;
  /** The later version's restatement of the same (provider, model, effectiveFrom), if any. */
  v2?: PriceTriple;
}

export interface PricePlan {
  v1Version: string;
  v2Version: string;
  entries: PriceEntrySpec[];
}

export type BackfillKey = 'b1' | 'b2' | 'b3';

export interface BackfillPlan {
  key: BackfillKey;
  tenant: string;
  replace: boolean;
  /** b2 only: closed before it is reverted (so its replacement, if any, took effect and is undone). */
  closeBeforeRevert: boolean;
  finalState: 'closed' | 'reverted';
  /** The file's valid lines, in file order. */
  fileEvents: JsonEvent[];
  /** The whole file (valid lines and the lines the loader must reject). */
  fileLines: string[];
  /** Ids of the file lines that break the contract (they must never reach the ledger). */
  rejectedLineIds: string[];
  /** Published straight to the topic with `tl-backfill`, one by one, while the close / revert runs. */
  lateDuring: JsonEvent[];
  /** Published straight to the topic after the close / revert finished. */
  lateAfter: JsonEvent[];
}

/** Records with a `tl-backfill` header the consumer must refuse (TL_BACKFILL_UNKNOWN). */
export interface StrayRecord {
  tenant: string;
  event: JsonEvent;
  /** `unknown`: a backfill id that does not exist; `other-tenant`: b1's id on another tenant's event. */
  backfill: 'unknown' | 'other-tenant';
}

export interface BatchPlan {
  index: number;
  tenant: string;
  /** Planned send time, ms after the live phase started. */
  atMs: number;
  events: JsonEvent[];
  /** Why the batch is sent when it is ("spread", or the operation its burst accompanies). */
  label: string;
}

export interface Schedule {
  /** Planned length of the live phase; every batch is planned inside it. */
  liveMs: number;
  loadAt: number;
  /** The proxy holds Produce answers past ingest's publish timeout: 503s. */
  proxyDelays: { at: number; ms: number; forMs: number }[];
  /** The proxy throws Produce answers away and cuts the connection: retried writes, duplicates. */
  proxyDrops: { at: number; n: number }[];
  partitionsFrom: number;
  partitionsTo: number;
  /** The partition count grows after the legacy track is done, not before this. */
  partitionsAt: number;
  /**
   * Consumer B joins this long after the partitions grew: its join makes the group leader assign
   * the new partitions while A is alive, so A and B fold one session's records from its old and
   * its new partition side by side.
   */
  consumerJoinDelayMs: number;
  /**
   * `external`: the test SIGKILLs consumer A at killAt (once B is running) and starts A2;
   * `hook`: B was started with TL_TEST_CRASH_AFTER_DB_COMMIT=hookCommits, SIGKILLs itself between
   * a database commit and its offset commit, and B2 replaces it.
   */
  killMode: 'external' | 'hook';
  killAt: number;
  hookCommits: number;
  /**
   * Consumer A holds each fold's transaction this long with its locks taken, just before COMMIT
   * (TL_TEST_HOLD_BEFORE_COMMIT_MS; 0: not at all), so a close, revert, reprice or replay swap
   * started meanwhile meets a fold of the same sessions in flight.
   */
  holdBeforeCommitMs: number;
  restartDelayMs: number;
  b1CloseAt: number;
  b2CloseAt: number | null;
  b2RevertAt: number;
  b3CloseAt: number;
  /** Replay and reprice never overlap (see `expectedPriceVersion` in model.ts); this says which runs first. */
  replayFirst: boolean;
  replayAt: number;
  repriceAt: number;
  /** Share of attempts sent to the second ingest once it exists. */
  ingest2Share: number;
}

export interface Scenario {
  seed: number;
  t0Ms: number;
  tenants: readonly [string, string];
  models: { book: string; bookMini: string; unknown: string };
  prices: PricePlan;
  /** The reprice window: covers every event's occurred_at (so every book-priced event is restated). */
  repriceWindow: { from: string; to: string };
  /** Every live event, per tenant (content by id). */
  liveEvents: Map<string, Map<string, JsonEvent>>;
  batches: BatchPlan[];
  /** Ids of events posted live that break the contract: ingest must reject them. */
  rejectedLiveIds: Set<string>;
  legacy: LegacyPlan[];
  backfills: Record<BackfillKey, BackfillPlan>;
  strays: StrayRecord[];
  schedule: Schedule;
}

export interface Rng {
  next(): number;
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  shuffle<T>(xs: T[]): T[];
  /** A decimal text with `decimals` digits after the point and an integer part below `intMax`. */
  decimal(intMax: number, decimals: number): string;
}

export function makeRng(seed: number): Rng {
  const next = seededRandom(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(xs: readonly T[]): T => {
      if (xs.length === 0) throw new Error('pick from an empty list');
      return xs[Math.floor(next() * xs.length)] as T;
    },
    shuffle: <T>(xs: T[]): T[] => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
      }
      return xs;
    },
    decimal: (intMax, decimals) => `${int(0, intMax - 1)}.${Array.from({ length: decimals }, () => int(0, 9)).join('')}`,
  };
}

/** Sizes of a seed's scenario; the defaults keep one seed within about 30 s on 2 cores. */
export interface ScenarioSize {
  sessionsPerTenant: number;
  liveMs: number;
}

export const DEFAULT_SIZE: ScenarioSize = { sessionsPerTenant: 45, liveMs: 10_000 };

const iso = (ms: number): string => new Date(ms).toISOString();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Builds seed `seed`'s scenario; event times are relative to `t0Ms` (all of them before it). */
export function buildScenario(seed: number, t0Ms: number, size: ScenarioSize = DEFAULT_SIZE): Scenario {
  const r = makeRng(seed);
  const tag = `h${seed}`;
  const tenants = [`acme-${tag}`, `globex-${tag}`] as const;
  const models = { book: `hm${seed}`, bookMini: `hm${seed}-mini`, unknown: `zz-unpriced-${seed}` };
  const liveFrom = t0Ms - 3 * HOUR;
  const historyAt = t0Ms - 40 * DAY;

  // Prices: an exact entry with two effective dates (history before the second one), a prefix
  // entry for any provider and a more specific one for "acme". The later version restates three
  // of the four with other prices (one with cached input left to default to the input price).
  const price = (): PriceTriple => ({ input: r.decimal(20, 9), output: r.decimal(40, 9), cached: r.decimal(5, 9), reasoning: r.decimal(60, 9) });
  const prices: PricePlan = {
    v1Version: `${tag}-1`,
    v2Version: `${tag}-2`,
    entries: [
      { model: models.book, effectiveFrom: '2020-01-01', v1: price(), v2: price() },
      { model: models.book, effectiveFrom: iso(t0Ms - 10 * DAY).replace(/\.\d{3}Z$/, 'Z'), v1: price(), v2: { input: r.decimal(20, 9), output: r.decimal(40, 9) } },
      { model: `${models.book}-*`, effectiveFrom: '2020-01-01', v1: { input: r.decimal(3, 9), output: r.decimal(9, 9) }, v2: price() },
      { provider: 'acme', model: `${models.book}-*`, effectiveFrom: '2020-01-01', v1: { input: r.decimal(3, 9), output: r.decimal(9, 9), cached: r.decimal(2, 9) } },
    ],
  };

  const usage = (base: Omit<JsonEvent, 'type'>): JsonEvent => {
    const e: JsonEvent = { ...base, type: 'llm.usage', input_tokens: r.int(0, 60_000), output_tokens: r.int(0, 9_000) };
    if (r.chance(0.5)) e.cached_input_tokens = r.int(0, 30_000);
    if (r.chance(0.3)) e.reasoning_tokens = r.int(0, 6_000);
    const kind = r.next();
    if (kind < 0.42) {
      e.model = models.book;
      const p = r.pick(['acme', 'other', null] as const);
      if (p !== null) e.provider = p;
    } else if (kind < 0.57) {
      e.model = models.bookMini;
      e.provider = r.pick(['acme', 'other'] as const);
    } else if (kind < 0.82) {
      e.model = r.pick([models.book, models.unknown, 'gpt-4o']);
      e.cost = r.decimal(3, r.int(0, 9)).replace(/\.$/, '');
    } else if (kind < 0.95) {
      e.model = models.unknown;
      e.provider = 'other';
    } // else: no model at all, unpriced
    return e;
  };

  /** The events of one session (no voids), times from `at`. */
  const sessionEvents = (sessionId: string, idPrefix: string, at: number, agents: string[], team: string | null, n: number): JsonEvent[] => {
    const events: JsonEvent[] = [];
    let t = at;
    let j = 0;
    const base = (): Omit<JsonEvent, 'type'> => {
      t += r.int(1, 40_000);
      const e: Omit<JsonEvent, 'type'> = { event_id: `${idPrefix}-e${j++}`, session_id: sessionId, occurred_at: iso(t), agent_id: r.chance(0.85) ? (agents[0] as string) : r.pick(agents) };
      if (team !== null && r.chance(0.6)) e.team_id = r.chance(0.9) ? team : `${team}-x`;
      return e;
    };
    if (r.chance(0.85)) events.push({ ...base(), type: 'session.started' });
    // Sometimes an event before the start, naming another agent: the earliest event names the agent.
    if (r.chance(0.15)) events.push({ ...usage({ ...base(), agent_id: r.pick(agents) }), occurred_at: iso(at - r.int(1, 5000)) });
    for (let k = 0; k < n; k++) {
      if (r.chance(0.3)) events.push({ ...base(), type: 'tool.call', tool_name: r.pick(['search', 'shell', 'fetch']), duration_ms: r.int(0, 9000) });
      else events.push(usage(base()));
    }
    const ended = r.next();
    if (ended < 0.75) {
      events.push({ ...base(), type: 'session.ended', status: r.pick(['success', 'success', 'error', 'timeout', 'cancelled']) });
    } else if (ended < 0.87) {
      // Two end events at the same instant: the greater id (UTF-8 bytes, not UTF-16 order) decides.
      const e1 = { ...base(), type: 'session.ended' as const, status: 'error' };
      events.push({ ...e1, event_id: `${idPrefix}-end-\uff5e` });
      events.push({ ...e1, event_id: `${idPrefix}-end-\u{1f600}`, status: 'timeout' });
    }
    return events;
  };

  const voidOf = (target: JsonEvent, id: string, at: number): JsonEvent => {
    const v: JsonEvent = { event_id: id, session_id: target.session_id, type: 'event.voided', occurred_at: iso(at), voids_event_id: target.event_id, reason: 'correction' };
    if (r.chance(0.5)) v.agent_id = 'voider';
    return v;
  };
  const nonVoids = (es: readonly JsonEvent[]): JsonEvent[] => es.filter((e) => e.type !== 'event.voided');

  // Live sessions of both tenants.
  const liveEvents = new Map<string, Map<string, JsonEvent>>();
  const liveSessions = new Map<string, { id: string; events: JsonEvent[] }[]>();
  for (const [ti, tenant] of tenants.entries()) {
    const byId = new Map<string, JsonEvent>();
    const sessions: { id: string; events: JsonEvent[] }[] = [];
    for (let i = 0; i < size.sessionsPerTenant; i++) {
      const sid = `${tag}${'ab'[ti]}-s${i}`;
      const agents = [`agent-${r.int(0, 4)}`, `agent-${r.int(5, 7)}`];
      const team = r.chance(0.8) ? `team-${r.int(0, 2)}` : null;
      const events = sessionEvents(sid, sid, liveFrom + r.int(0, 2 * HOUR), agents, team, r.int(1, 7));
      sessions.push({ id: sid, events });
    }
    // Voids: of an event of the same session (sent before or after it, the batches are shuffled),
    // of a void (no effect), of an event of another session (no effect), of an id never sent (no effect).
    let v = 0;
    for (const s of sessions) {
      if (!r.chance(0.2)) continue;
      const target = r.pick(nonVoids(s.events));
      s.events.push(voidOf(target, `${s.id}-v${v++}`, Date.parse(target.occurred_at) + r.int(-60_000, 60_000)));
    }
    const someVoid = sessions.flatMap((s) => s.events).find((e) => e.type === 'event.voided');
    const s0 = sessions[0] as { id: string; events: JsonEvent[] };
    const s1 = sessions[1] as { id: string; events: JsonEvent[] };
    if (someVoid !== undefined) {
      const owner = sessions.find((s) => s.id === someVoid.session_id) as { events: JsonEvent[] };
      owner.events.push(voidOf(someVoid, `${someVoid.session_id}-vv`, Date.parse(someVoid.occurred_at) + 1));
    }
    s0.events.push({ ...voidOf(r.pick(nonVoids(s1.events)), `${s0.id}-vx`, Date.parse(s0.events[0]?.occurred_at ?? iso(liveFrom))), session_id: s0.id });
    s1.events.push({ ...voidOf(r.pick(nonVoids(s1.events)), `${s1.id}-vghost`, liveFrom), voids_event_id: `${s1.id}-never-sent` });
    // A session of nothing but a void naming an id never sent: it has no row.
    const ghost = `${tag}${'ab'[ti]}-ghost`;
    sessions.push({ id: ghost, events: [{ event_id: `${ghost}-v0`, session_id: ghost, type: 'event.voided', occurred_at: iso(liveFrom), voids_event_id: `${ghost}-e0` }] });
    for (const s of sessions) for (const e of s.events) byId.set(e.event_id, e);
    liveEvents.set(tenant, byId);
    liveSessions.set(tenant, sessions);
  }
  const [tA, tB] = tenants;
  const sessionsOf = (t: string) => liveSessions.get(t) as { id: string; events: JsonEvent[] }[];
  const pickLive = (t: string, n: number, exclude: ReadonlySet<string> = new Set()): JsonEvent[] =>
    r.shuffle(sessionsOf(t).filter((s) => !exclude.has(s.id)).flatMap((s) => nonVoids(s.events))).slice(0, n);

  // Historical sessions, only in a backfill.
  const history = (key: string, tenantIdx: number, n: number): { id: string; events: JsonEvent[] }[] =>
    Array.from({ length: n }, (_, i) => {
      const sid = `${tag}${'ab'[tenantIdx]}-${key}-h${i}`;
      return { id: sid, events: sessionEvents(sid, sid, historyAt + r.int(0, 20 * DAY), [`agent-${r.int(0, 7)}`], r.chance(0.7) ? `team-${r.int(0, 2)}` : null, r.int(1, 6)) };
    });
  const badLines = (prefix: string): { lines: string[]; ids: string[] } => {
    const id = `${prefix}-bad`;
    return {
      lines: ['{"event_id": "not json', JSON.stringify({ event_id: id, session_id: `${prefix}-bad-s`, agent_id: 'x', type: 'llm.usage', occurred_at: iso(historyAt), input_tokens: -3 })],
      ids: [id],
    };
  };
  const fileOf = (events: JsonEvent[], prefix: string): { fileLines: string[]; rejectedLineIds: string[] } => {
    const lines = events.map((e) => JSON.stringify(e));
    const bad = badLines(prefix);
    for (const l of bad.lines) lines.splice(r.int(0, lines.length), 0, l);
    return { fileLines: lines, rejectedLineIds: bad.ids };
  };
  /** `n` more events for a session (late records, replacements): usage or tool calls, after its first event. */
  const more = (s: { id: string; events: JsonEvent[] }, n: number, suffix: string): JsonEvent[] =>
    Array.from({ length: n }, (_, k) => {
      const at = Date.parse(s.events[0]?.occurred_at ?? iso(historyAt)) + r.int(1, 3 * HOUR);
      const base = { event_id: `${s.id}-${suffix}${k}`, session_id: s.id, occurred_at: iso(at), agent_id: `agent-${r.int(0, 7)}` };
      return r.chance(0.25) ? { ...base, type: 'tool.call' as const, tool_name: 'late', duration_ms: 5 } : usage(base);
    });

  /**
   * Late records in sessions the backfill has no member in yet: a close or revert that computes
   * its sessions before a concurrent fold's new member commits would never look at them.
   */
  const freshLate = (key: string, tenantIdx: number, n: number): JsonEvent[] =>
    Array.from({ length: n }, (_, i) => {
      const sid = `${tag}${'ab'[tenantIdx]}-${key}-late-s${i}`;
      return more({ id: sid, events: [{ event_id: `${sid}-x`, session_id: sid, type: 'tool.call', occurred_at: iso(historyAt + r.int(0, 20 * DAY)) }] }, 1, 'e')[0] as JsonEvent;
    });

  // b3: replace mode, closed. It covers some live sessions of its tenant with corrected history
  // (new ids, and for some a copy of one live event, which then is its own and keeps counting).
  const b3Tenant = r.pick(tenants);
  const b3TenantIdx = tenants.indexOf(b3Tenant);
  const covered = r.shuffle(sessionsOf(b3Tenant).filter((s) => !s.id.endsWith('ghost')).slice(2)).slice(0, 5);
  const coveredIds = new Set(covered.map((s) => s.id));
  const b3Events: JsonEvent[] = [];
  for (const [i, s] of covered.entries()) {
    const at = Date.parse(s.events[0]?.occurred_at ?? iso(liveFrom));
    const fresh = sessionEvents(s.id, `${s.id}-b3`, at - r.int(0, 60_000), [`agent-${r.int(0, 7)}`], r.chance(0.5) ? 'team-b3' : null, r.int(1, 3));
    b3Events.push(...fresh);
    if (i < 2) b3Events.push(r.pick(nonVoids(s.events)));
  }
  const b3History = history('b3', b3TenantIdx, 2);
  b3Events.push(...b3History.flatMap((s) => s.events));
  const b3Target = r.pick(b3Events.filter((e) => e.event_id.includes('-b3-') && e.type !== 'event.voided'));
  b3Events.push(voidOf(b3Target, `${b3Target.session_id}-b3-v0`, Date.parse(b3Target.occurred_at) + 5));
  // A live void naming one of b3's events: voids are never replaced, so it applies once b3 counts.
  const b3LiveTarget = r.pick(b3Events.filter((e) => e.event_id.includes('-b3-') && e.type !== 'event.voided' && e.event_id !== b3Target.event_id));
  const b3LiveVoid = voidOf(b3LiveTarget, `${b3LiveTarget.session_id}-v-b3`, Date.parse(b3LiveTarget.occurred_at) + 7);
  (liveEvents.get(b3Tenant) as Map<string, JsonEvent>).set(b3LiveVoid.event_id, b3LiveVoid);
  sessionsOf(b3Tenant).find((s) => s.id === b3LiveVoid.session_id)?.events.push(b3LiveVoid);
  const coveredOne = r.pick(covered);
  const b3 = {
    key: 'b3' as const,
    tenant: b3Tenant,
    replace: true,
    closeBeforeRevert: false,
    finalState: 'closed' as const,
    fileEvents: r.shuffle(b3Events),
    ...fileOf(b3Events, `${tag}-b3`),
    lateDuring: r.shuffle([...covered.slice(0, 2).flatMap((s) => more(s, 1, 'b3-ld')), ...freshLate('b3', b3TenantIdx, 8)]),
    lateAfter: [...more(coveredOne, 2, 'b3-la'), ...r.shuffle(nonVoids(coveredOne.events).filter((e) => !b3Events.includes(e))).slice(0, 1)],
  };

  // b1: adds history, closed; overlaps live ids; voids of its own, of live events, and one of an
  // event that only arrives later as a late record of b1 (a void before its target, another path).
  const b1History = history('b1', 0, 6);
  const b1Copies = pickLive(tA, 15);
  const b1Own = b1History.flatMap((s) => s.events);
  const b1Late = more(b1History[0] as { id: string; events: JsonEvent[] }, 3, 'la');
  const lateTarget = b1Late[0] as JsonEvent;
  const b1Voids = [
    ...r.shuffle(nonVoids(b1Own)).slice(0, 2).map((t, i) => voidOf(t, `${t.session_id}-b1v${i}`, Date.parse(t.occurred_at) + 1)),
    ...pickLive(tA, 2).map((t, i) => voidOf(t, `${t.session_id}-b1lv${i}`, Date.parse(t.occurred_at) + 1)),
    voidOf(lateTarget, `${lateTarget.session_id}-b1v-late`, Date.parse(lateTarget.occurred_at) - 1),
  ];
  const b1Events = [...b1Own, ...b1Copies, ...b1Voids];
  const b1LateVoidTarget = r.pick(nonVoids(b1Own));
  const b1 = {
    key: 'b1' as const,
    tenant: tA,
    replace: false,
    closeBeforeRevert: false,
    finalState: 'closed' as const,
    fileEvents: r.shuffle([...b1Events]),
    ...fileOf(b1Events, `${tag}-b1`),
    lateDuring: r.shuffle([...more(b1History[1] as { id: string; events: JsonEvent[] }, 2, 'ld'), ...more(b1History[2] as { id: string; events: JsonEvent[] }, 2, 'ld'), ...freshLate('b1', 0, 10)]),
    lateAfter: [...b1Late, voidOf(b1LateVoidTarget, `${b1LateVoidTarget.session_id}-b1v-after`, Date.parse(b1LateVoidTarget.occurred_at) + 2), ...pickLive(tA, 1)],
  };

  // b2: reverted (closed first, or not; add or replace mode). Copies of live events keep
  // counting after the revert, its voids of live events stop applying, its history disappears.
  const b2Replace = r.chance(0.5);
  const b2History = history('b2', 1, 4);
  const b2Copies = pickLive(tB, 8);
  const b2Own = b2History.flatMap((s) => s.events);
  const b2Events = [
    ...b2Own,
    ...b2Copies,
    ...pickLive(tB, 2).map((t, i) => voidOf(t, `${t.session_id}-b2lv${i}`, Date.parse(t.occurred_at) + 1)),
    ...r.shuffle(nonVoids(b2Own)).slice(0, 1).map((t) => voidOf(t, `${t.session_id}-b2v0`, Date.parse(t.occurred_at) + 1)),
  ];
  if (b2Replace) {
    for (const s of r.shuffle(sessionsOf(tB).filter((x) => !x.id.endsWith('ghost'))).slice(0, 3)) b2Events.push(...more({ id: s.id, events: s.events }, 2, 'b2r'));
  }
  const b2 = {
    key: 'b2' as const,
    tenant: tB,
    replace: b2Replace,
    closeBeforeRevert: r.chance(0.6),
    finalState: 'reverted' as const,
    fileEvents: r.shuffle([...b2Events]),
    ...fileOf(b2Events, `${tag}-b2`),
    lateDuring: r.shuffle([...more(b2History[0] as { id: string; events: JsonEvent[] }, 3, 'ld'), ...freshLate('b2', 1, 8)]),
    lateAfter: [...more(b2History[1] as { id: string; events: JsonEvent[] }, 3, 'la'), ...pickLive(tB, 1)],
  };

  const strays: StrayRecord[] = [
    { tenant: tA, backfill: 'unknown', event: { event_id: `${tag}-stray-unknown`, session_id: `${tag}-stray-s`, agent_id: 'x', type: 'tool.call', occurred_at: iso(liveFrom) } },
    { tenant: tB, backfill: 'other-tenant', event: { event_id: `${tag}-stray-other`, session_id: `${tag}-stray-s`, agent_id: 'x', type: 'tool.call', occurred_at: iso(liveFrom) } },
  ];

  // Legacy summaries: a final status (so both summaries derive the same three ids), the second
  // with other numbers, status and end.
  const legacy: LegacyPlan[] = [];
  for (const tenant of tenants) {
    for (let i = 0; i < 3; i++) {
      const sessionId = `${tag}-${tenant.slice(0, 1)}-legacy-${i}`;
      const startedMs = liveFrom + r.int(0, 2 * HOUR);
      const kind = r.pick(['reported', 'book', 'unpriced'] as const);
      const first: LegacySummary = {
        sessionId,
        agentId: `agent-${r.int(0, 4)}`,
        teamId: r.chance(0.7) ? `team-${r.int(0, 2)}` : null,
        startedAt: iso(startedMs),
        endedAt: iso(startedMs + r.int(1000, 600_000)),
        status: r.pick(['success', 'error', 'timeout']),
        inputTokens: r.int(0, 90_000),
        outputTokens: r.int(0, 9000),
        ...(kind === 'reported' ? { cost: r.decimal(4, 9), model: models.book } : kind === 'book' ? { model: models.book } : { model: models.unknown }),
      };
      const second: LegacySummary = { ...first, endedAt: null, durationMs: r.int(1000, 900_000), status: 'cancelled', inputTokens: first.inputTokens + 11, outputTokens: first.outputTokens + 7, cost: r.decimal(9, 9), teamId: 'team-other' };
      legacy.push({ tenant, first, repost: r.chance(0.5), second });
    }
  }

  // Schedule (ms after the live phase starts). A SIGKILLed member holds its partitions until its
  // session times out (6 s), and the whole group waits for it: the kill comes after most
  // operations ran against two live members.
  const L = size.liveMs;
  const partitionsAt = r.int(Math.round(0.1 * L), Math.round(0.18 * L));
  const b2RevertAt = r.int(Math.round(0.55 * L), Math.round(0.75 * L));
  const replayFirst = r.chance(0.5);
  const schedule: Schedule = {
    liveMs: L,
    loadAt: 300,
    proxyDelays: [
      { at: r.int(Math.round(0.08 * L), Math.round(0.18 * L)), ms: r.int(700, 1000), forMs: r.int(900, 1500) },
      { at: r.int(Math.round(0.6 * L), Math.round(0.8 * L)), ms: 800, forMs: r.int(500, 900) },
    ],
    proxyDrops: [{ at: r.int(Math.round(0.35 * L), Math.round(0.55 * L)), n: r.int(1, 3) }],
    partitionsFrom: 3,
    partitionsTo: r.int(4, 6),
    partitionsAt,
    consumerJoinDelayMs: r.int(0, 400),
    killMode: r.chance(0.5) ? 'external' : 'hook',
    killAt: r.int(Math.round(0.55 * L), Math.round(0.75 * L)),
    hookCommits: r.int(12, 35),
    restartDelayMs: r.int(100, 1200),
    b1CloseAt: r.int(Math.round(0.3 * L), Math.round(0.5 * L)),
    b2CloseAt: b2.closeBeforeRevert ? b2RevertAt - r.int(1500, 2500) : null,
    b2RevertAt,
    b3CloseAt: r.int(Math.round(0.35 * L), Math.round(0.65 * L)),
    replayFirst,
    replayAt: replayFirst ? r.int(Math.round(0.2 * L), Math.round(0.4 * L)) : r.int(Math.round(0.75 * L), Math.round(0.85 * L)),
    repriceAt: replayFirst ? r.int(Math.round(0.7 * L), Math.round(0.85 * L)) : r.int(Math.round(0.3 * L), Math.round(0.5 * L)),
    ingest2Share: 0.3 + 0.5 * r.next(),
    holdBeforeCommitMs: r.pick([0, 0, 40, 120]),
  };

  // Batches: every live event once, some a second time in another batch, a few twice in the same
  // batch; shuffled, so a session's events (and a void and its target) arrive in any order.
  // Events chosen for a burst are sent in the moments after an operation's planned start.
  const bursts: { label: string; at: number; pick: (tenant: string, e: JsonEvent) => boolean }[] = [
    { label: 'burst:close-b1', at: schedule.b1CloseAt, pick: (t, e) => t === b1.tenant && b1Events.includes(e) },
    { label: 'burst:close-b3', at: schedule.b3CloseAt, pick: (t, e) => t === b3.tenant && coveredIds.has(e.session_id) && r.chance(0.5) },
    { label: 'burst:revert-b2', at: schedule.b2RevertAt, pick: (t, e) => t === b2.tenant && b2Events.includes(e) },
    { label: 'burst:reprice', at: schedule.repriceAt, pick: (_t, e) => e.cost === undefined && (e.model === models.book || e.model === models.bookMini) && r.chance(0.25) },
  ];
  const batches: BatchPlan[] = [];
  const rejectedLiveIds = new Set<string>();
  let bad = 0;
  for (const tenant of tenants) {
    const groups = new Map<string, JsonEvent[]>([['spread', []]]);
    for (const e of (liveEvents.get(tenant) as Map<string, JsonEvent>).values()) {
      const copies = 1 + (r.chance(0.15) ? 1 : 0);
      for (let c = 0; c < copies; c++) {
        const burst = c === 0 ? bursts.find((b) => b.pick(tenant, e)) : undefined;
        const label = burst?.label ?? 'spread';
        const g = groups.get(label) ?? [];
        groups.set(label, g);
        g.push(e);
        if (r.chance(0.04)) g.push(e);
      }
    }
    for (const [label, events] of groups) {
      r.shuffle(events);
      const burst = bursts.find((b) => b.label === label);
      for (let i = 0; i < events.length; ) {
        const n = r.int(3, 16);
        const chunk = events.slice(i, i + n);
        i += n;
        if (r.chance(0.05)) {
          const id = `${tag}-bad-${bad++}`;
          rejectedLiveIds.add(id);
          chunk.splice(r.int(0, chunk.length), 0, { event_id: id, session_id: `${tag}-bad-s`, agent_id: 'x', type: 'llm.usage', occurred_at: iso(liveFrom), input_tokens: -5 });
        }
        const atMs = burst === undefined ? r.int(0, L - 500) : burst.at + r.int(300, 1800);
        batches.push({ index: 0, tenant, atMs, events: chunk, label });
      }
    }
  }
  batches.sort((a, b) => a.atMs - b.atMs);
  batches.forEach((b, i) => (b.index = i));

  return {
    seed,
    t0Ms,
    tenants,
    models,
    prices,
    repriceWindow: { from: iso(t0Ms - 90 * DAY), to: iso(t0Ms + DAY) },
    liveEvents,
    batches,
    rejectedLiveIds,
    legacy,
    backfills: { b1, b2, b3 },
    strays,
    schedule,
  };
}

/** The price file of one version, as docs/pricing.md describes it. */
export function priceFile(plan: PricePlan, which: 'v1' | 'v2'): unknown {
  const prices = plan.entries.flatMap((e) => {
    const p = which === 'v1' ? e.v1 : e.v2;
    if (p === undefined) return [];
    return [
      {
        ...(e.provider === undefined ? {} : { provider: e.provider }),
        model: e.model,
        effectiveFrom: e.effectiveFrom,
        inputPerMillion: p.input,
        outputPerMillion: p.output,
        ...(p.cached === undefined ? {} : { cachedInputPerMillion: p.cached }),
        ...(p.reasoning === undefined ? {} : { reasoningPerMillion: p.reasoning }),
      },
    ];
  });
  return { version: which === 'v1' ? plan.v1Version : plan.v2Version, currency: 'USD', note: 'history checker', prices };
}
