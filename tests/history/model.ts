import type { JsonEvent, LegacySummary, PricePlan, PriceTriple } from './scenario.js';

/**
 * The checker's own model of what the ledger must hold, written from docs/architecture.md ("The
 * ledger and what counts") and docs/pricing.md, independent of packages/core (no fold, no
 * PriceBook, no money helpers): the expected row of every session and the expected marks of
 * every ledger row, from the facts the run observed (which events were acknowledged live, which
 * records reached each backfill, the backfills' final states) and the price book the run built.
 */

// ---------------------------------------------------------------------------------------------
// Money: nano-units as bigint.

const DECIMAL = /^(\d+)(?:\.(\d{1,9}))?$/;

/** Decimal text (at most 9 decimals, as Postgres numeric(30,9) writes it or a producer sends it) to nano-units. */
export function nanos(text: string): bigint {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new Error(`not a decimal with at most 9 decimals: "${text}"`);
  return BigInt(m[1] as string) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Nano-units as the shortest exact decimal text. */
export function decimalText(n: bigint): string {
  const whole = n / 1_000_000_000n;
  const frac = (n % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return frac === '' ? whole.toString() : `${whole}.${frac}`;
}

// ---------------------------------------------------------------------------------------------
// Pricing (docs/pricing.md).

/** One price-book entry, prices in nano-units per million tokens. */
export interface ModelPrice {
  version: string;
  provider: string | null;
  model: string;
  effectiveFromMs: number;
  input: bigint;
  output: bigint;
  cached: bigint;
  reasoning: bigint;
}

function entryOf(version: string, provider: string | undefined, model: string, effectiveFrom: string, p: PriceTriple): ModelPrice {
  return {
    version,
    provider: provider ?? null,
    model,
    effectiveFromMs: Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(effectiveFrom) ? `${effectiveFrom}T00:00:00Z` : effectiveFrom),
    input: nanos(p.input),
    output: nanos(p.output),
    // "cachedInputPerMillion: defaults to the input price"; "reasoningPerMillion: defaults to the output price".
    cached: nanos(p.cached ?? p.input),
    reasoning: nanos(p.reasoning ?? p.output),
  };
}

/**
 * The book in force once the given versions are stored. "The later version restates an entry
 * with the same provider, model and effectiveFrom": one entry per such key, from the latest version.
 */
export function priceBook(plan: PricePlan, versions: 'v1' | 'v1+v2'): ModelPrice[] {
  const byKey = new Map<string, ModelPrice>();
  for (const e of plan.entries) {
    const key = `${e.provider ?? '*'}\u0000${e.model}\u0000${e.effectiveFrom}`;
    byKey.set(key, entryOf(plan.v1Version, e.provider, e.model, e.effectiveFrom, e.v1));
    if (versions === 'v1+v2' && e.v2 !== undefined) byKey.set(key, entryOf(plan.v2Version, e.provider, e.model, e.effectiveFrom, e.v2));
  }
  return [...byKey.values()];
}

/**
 * "Among entries for its provider (or any provider) whose model matches and whose effectiveFrom
 * is not after the event, the most specific wins — an exact name over a prefix, a longer prefix
 * over a shorter one, a named provider over 'any' — and then the latest effectiveFrom."
 */
export function findPrice(book: readonly ModelPrice[], provider: string | null, model: string | null, atMs: number): ModelPrice | null {
  if (model === null) return null;
  let best: ModelPrice | null = null;
  let bestRank: number[] = [];
  for (const e of book) {
    if (e.effectiveFromMs > atMs) continue;
    if (e.provider !== null && e.provider !== provider) continue;
    const prefix = e.model.endsWith('*') ? e.model.slice(0, -1) : null;
    if (prefix === null ? e.model !== model : !model.startsWith(prefix)) continue;
    const rank = [prefix === null ? 1 : 0, prefix?.length ?? 0, e.provider === null ? 0 : 1, e.effectiveFromMs];
    if (best === null || lexicographic(rank, bestRank) > 0) {
      best = e;
      bestRank = rank;
    }
  }
  return best;
}

function lexicographic(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** "(input × in + cached × cached + output × out + reasoning × reasoning) / 1,000,000 … rounded half up to 1e-9 once per event". */
export function bookCost(p: ModelPrice, e: JsonEvent): bigint {
  const micro =
    BigInt(e.input_tokens ?? 0) * p.input + BigInt(e.cached_input_tokens ?? 0) * p.cached + BigInt(e.output_tokens ?? 0) * p.output + BigInt(e.reasoning_tokens ?? 0) * p.reasoning;
  return (micro + 500_000n) / 1_000_000n;
}

/** What a usage event is billed at: reported cost, else the book, else null (unpriced). */
export function billedCost(book: readonly ModelPrice[], e: JsonEvent): bigint | null {
  if (e.type !== 'llm.usage') return null;
  if (e.cost !== undefined) return nanos(e.cost);
  const p = findPrice(book, e.provider ?? null, e.model ?? null, Date.parse(e.occurred_at));
  return p === null ? null : bookCost(p, e);
}

// ---------------------------------------------------------------------------------------------
// Legacy summaries (docs/contract.md, "Legacy summaries"; README).

/**
 * The events `POST /api/billing/ingest` derives from a summary: `session.started`, `llm.usage`
 * and, for a final status, `session.ended`, with ids `legacy:<sessionId>:started|usage|ended`;
 * `endedAt` defaults to `startedAt + durationMs`. The usage event is placed at the end (the
 * contract leaves its time open; the scenario keeps every legacy time on one side of every
 * price change, so the choice does not change a price).
 */
export function legacyEvents(s: LegacySummary): JsonEvent[] {
  const endedAt = s.endedAt ?? (s.durationMs !== undefined && s.durationMs !== null ? new Date(Date.parse(s.startedAt) + s.durationMs).toISOString() : null);
  const base = { session_id: s.sessionId, agent_id: s.agentId, ...(s.teamId ? { team_id: s.teamId } : {}) };
  const id = (suffix: string) => `legacy:${s.sessionId}:${suffix}`;
  const usage: JsonEvent = { ...base, event_id: id('usage'), type: 'llm.usage', occurred_at: endedAt ?? s.startedAt, input_tokens: s.inputTokens, output_tokens: s.outputTokens };
  if (s.model !== undefined && s.model !== null) usage.model = s.model;
  if (s.cost !== undefined && s.cost !== null) usage.cost = s.cost;
  const events: JsonEvent[] = [{ ...base, event_id: id('started'), type: 'session.started', occurred_at: s.startedAt }, usage];
  if (s.status !== 'running') events.push({ ...base, event_id: id('ended'), type: 'session.ended', occurred_at: endedAt ?? s.startedAt, status: s.status });
  return events;
}

// ---------------------------------------------------------------------------------------------
// The ledger's rule.

export interface ModelBackfill {
  id: string;
  tenant: string;
  replace: boolean;
  state: 'open' | 'closed' | 'reverted';
  /** Order of closing among the run's backfills (greater: closed later); null if never closed. */
  closedSeq: number | null;
  /** Events whose record with this backfill's header the consumer read while it was not reverted. */
  members: readonly JsonEvent[];
}

export interface LedgerFacts {
  /** Per tenant, the events that reached the topic without a backfill header and were acknowledged. */
  live: ReadonlyMap<string, ReadonlyMap<string, JsonEvent>>;
  backfills: readonly ModelBackfill[];
  /** The price book every usage event ends up billed at. */
  book: readonly ModelPrice[];
}

export interface ExpectedSession {
  tenant: string;
  sessionId: string;
  agentId: string | null;
  teamId: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
  status: string;
  eventCount: bigint;
  toolCalls: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  reasoningTokens: bigint;
  costNanos: bigint;
  unpricedEvents: bigint;
  unpricedTokens: bigint;
}

export interface ExpectedLedgerRow {
  tenant: string;
  eventId: string;
  sessionId: string;
  type: string;
  live: boolean;
  backfills: string[];
  staged: boolean;
  voidedBy: string | null;
  replacedBy: string | null;
  counts: boolean;
}

export interface Expected {
  /** Key: tenant + U+0000 + session id. Sessions with no counting event have no entry. */
  sessions: Map<string, ExpectedSession>;
  /** Key: tenant + U+0000 + event id. */
  ledger: Map<string, ExpectedLedgerRow>;
  /** Every session with a ledger row, and its owner (null: none). */
  owners: Map<string, string | null>;
}

export const key = (tenant: string, id: string): string => `${tenant}\u0000${id}`;

/** Bytewise order of ids (UTF-8, as Postgres COLLATE "C"). */
export function compareIds(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Events ordered by occurred_at, then id bytewise. */
function compareEvents(a: JsonEvent, b: JsonEvent): number {
  const d = Date.parse(a.occurred_at) - Date.parse(b.occurred_at);
  return d !== 0 ? d : compareIds(a.event_id, b.event_id);
}

/**
 * Applies the rule to the ledger the facts imply. A row exists for every live event and every
 * member of a backfill that is not reverted ("revert removes B's memberships, deletes the ledger
 * rows left with no source"). Throws if one id was given two different contents: the scenario
 * only reuses ids with identical content (the first recorded content wins, so which one wins
 * would otherwise depend on timing), apart from legacy summaries, whose first content the caller passes.
 */
export function expectedState(facts: LedgerFacts): Expected {
  interface Row {
    tenant: string;
    event: JsonEvent;
    live: boolean;
    backfills: Set<string>;
  }
  const rows = new Map<string, Row>();
  const add = (tenant: string, e: JsonEvent, source: { live: true } | { backfill: string }) => {
    const k = key(tenant, e.event_id);
    let row = rows.get(k);
    if (row === undefined) {
      row = { tenant, event: e, live: false, backfills: new Set() };
      rows.set(k, row);
    } else if (JSON.stringify(row.event) !== JSON.stringify(e)) {
      throw new Error(`model input: event ${e.event_id} of ${tenant} given two contents: ${JSON.stringify(row.event)} / ${JSON.stringify(e)}`);
    }
    if ('live' in source) row.live = true;
    else row.backfills.add(source.backfill);
  };
  for (const [tenant, events] of facts.live) for (const e of events.values()) add(tenant, e, { live: true });
  const backfills = new Map(facts.backfills.map((b) => [b.id, b]));
  for (const b of facts.backfills) {
    if (b.state === 'reverted') continue;
    for (const e of b.members) add(b.tenant, e, { backfill: b.id });
  }

  const bySession = new Map<string, Row[]>();
  for (const row of rows.values()) {
    const k = key(row.tenant, row.event.session_id);
    const list = bySession.get(k) ?? [];
    bySession.set(k, list);
    list.push(row);
  }

  const out: Expected = { sessions: new Map(), ledger: new Map(), owners: new Map() };
  for (const [sk, list] of bySession) {
    const closed = (id: string) => backfills.get(id)?.state === 'closed';
    // 2. Owner: among closed replace-mode backfills with a member in the session, the one closed last.
    let owner: ModelBackfill | null = null;
    for (const row of list) {
      for (const id of row.backfills) {
        const b = backfills.get(id) as ModelBackfill;
        if (b.state === 'closed' && b.replace && (owner === null || (b.closedSeq ?? 0) > (owner.closedSeq ?? 0))) owner = b;
      }
    }
    out.owners.set(sk, owner?.id ?? null);
    const judged = list.map((row) => {
      const isVoid = row.event.type === 'event.voided';
      // 1. In force: live, or a member of a closed backfill.
      const inForce = row.live || [...row.backfills].some(closed);
      // 3. Replaced: in force, not a void, the session has an owner, and not a member of it.
      const replaced = inForce && !isVoid && owner !== null && !row.backfills.has(owner.id);
      // 4. Effective: in force and not replaced.
      return { row, isVoid, inForce, replaced, effective: inForce && !replaced };
    });
    // 5. Voided: an effective void of the session names it, and it is not a void; the least void id.
    const voidedBy = new Map<string, string>();
    for (const j of judged) {
      if (!j.isVoid || !j.effective) continue;
      const target = j.row.event.voids_event_id as string;
      const prev = voidedBy.get(target);
      if (prev === undefined || compareIds(j.row.event.event_id, prev) < 0) voidedBy.set(target, j.row.event.event_id);
    }
    const counting: JsonEvent[] = [];
    for (const j of judged) {
      const by = j.isVoid ? null : (voidedBy.get(j.row.event.event_id) ?? null);
      // 6. Counts: effective, not a void, not voided.
      const counts = j.effective && !j.isVoid && by === null;
      if (counts) counting.push(j.row.event);
      out.ledger.set(key(j.row.tenant, j.row.event.event_id), {
        tenant: j.row.tenant,
        eventId: j.row.event.event_id,
        sessionId: j.row.event.session_id,
        type: j.row.event.type,
        live: j.row.live,
        backfills: [...j.row.backfills].sort(),
        staged: !j.inForce,
        voidedBy: by,
        replacedBy: j.replaced && owner !== null ? owner.id : null,
        counts,
      });
    }
    if (counting.length > 0) {
      const tenant = (list[0] as Row).tenant;
      out.sessions.set(sk, foldSession(tenant, (counting[0] as JsonEvent).session_id, counting, facts.book));
    }
  }
  return out;
}

/** The session row of its counting events (docs/architecture.md, "The fold"). */
export function foldSession(tenant: string, sessionId: string, events: readonly JsonEvent[], book: readonly ModelPrice[]): ExpectedSession {
  const s: ExpectedSession = {
    tenant,
    sessionId,
    agentId: null,
    teamId: null,
    startedAtMs: 0,
    endedAtMs: null,
    status: 'running',
    eventCount: 0n,
    toolCalls: 0n,
    inputTokens: 0n,
    outputTokens: 0n,
    cachedInputTokens: 0n,
    reasoningTokens: 0n,
    costNanos: 0n,
    unpricedEvents: 0n,
    unpricedTokens: 0n,
  };
  const sorted = [...events].sort(compareEvents);
  // Agent and team: from the earliest event naming one.
  s.agentId = sorted.find((e) => e.agent_id !== undefined)?.agent_id ?? null;
  s.teamId = sorted.find((e) => e.team_id !== undefined)?.team_id ?? null;
  // Start: the earliest session.started, else the earliest event.
  const start = sorted.find((e) => e.type === 'session.started') ?? sorted[0];
  s.startedAtMs = Date.parse((start as JsonEvent).occurred_at);
  // End: the session.ended with the latest occurred_at, ties broken by the greater id.
  const end = sorted.filter((e) => e.type === 'session.ended').at(-1);
  if (end !== undefined) {
    s.endedAtMs = Date.parse(end.occurred_at);
    s.status = end.status as string;
  }
  for (const e of sorted) {
    s.eventCount += 1n;
    if (e.type === 'tool.call') s.toolCalls += 1n;
    if (e.type !== 'llm.usage') continue;
    const input = BigInt(e.input_tokens ?? 0);
    const output = BigInt(e.output_tokens ?? 0);
    const cached = BigInt(e.cached_input_tokens ?? 0);
    const reasoning = BigInt(e.reasoning_tokens ?? 0);
    s.inputTokens += input;
    s.outputTokens += output;
    s.cachedInputTokens += cached;
    s.reasoningTokens += reasoning;
    const cost = billedCost(book, e);
    if (cost === null) {
      s.unpricedEvents += 1n;
      s.unpricedTokens += input + output + cached + reasoning;
    } else {
      s.costNanos += cost;
    }
  }
  return s;
}

/** One tenant's totals over its sessions, as billing and analytics report them for period=all. */
export interface TenantTotals {
  sessions: bigint;
  costNanos: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  /** Billing's totalTokens: input + output (README: 35566 = 27156 + 8410 in the demo). */
  totalTokens: bigint;
  unpricedSessions: bigint;
  unpricedTokens: bigint;
  statusCounts: Record<string, bigint>;
}

export function tenantTotals(sessions: Iterable<ExpectedSession>, tenant: string): TenantTotals {
  const t: TenantTotals = {
    sessions: 0n,
    costNanos: 0n,
    inputTokens: 0n,
    outputTokens: 0n,
    totalTokens: 0n,
    unpricedSessions: 0n,
    unpricedTokens: 0n,
    statusCounts: { running: 0n, success: 0n, error: 0n, timeout: 0n, cancelled: 0n },
  };
  for (const s of sessions) {
    if (s.tenant !== tenant) continue;
    t.sessions += 1n;
    t.costNanos += s.costNanos;
    t.inputTokens += s.inputTokens;
    t.outputTokens += s.outputTokens;
    t.totalTokens += s.inputTokens + s.outputTokens;
    if (s.unpricedEvents > 0n) t.unpricedSessions += 1n;
    t.unpricedTokens += s.unpricedTokens;
    t.statusCounts[s.status] = (t.statusCounts[s.status] ?? 0n) + 1n;
  }
  return t;
}
