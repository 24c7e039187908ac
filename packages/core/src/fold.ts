import type { EndStatus, SessionStatus, TraceEvent } from './events.js';
import type { PricedCost } from './pricing.js';

/**
 * A session's folded state. States form a commutative monoid under `mergeStates`: merging the
 * states of any partition of a set of distinct events, in any order, gives the same state as
 * folding them all at once. The consumer relies on this to pre-aggregate a batch per session
 * and merge it into the stored row with one upsert; the SQL in packages/db mirrors `mergeStates`.
 */
export interface SessionState {
  tenantId: string;
  sessionId: string;
  /** Agent named by the earliest event (occurredAt, then eventId) that names one. */
  agentId: string | null;
  agentKey: EventKey | null;
  /** Team named by the earliest event that names one. */
  teamId: string | null;
  teamKey: EventKey | null;
  /** Earliest `session.started`; null when none was seen. */
  startedAtMs: number | null;
  /** Earliest event of any type: the session's time when no start event was seen. */
  firstEventAtMs: number;
  lastEventAtMs: number;
  /** The deciding end event: latest occurredAt, ties broken by the greater eventId. */
  end: { key: EventKey; status: EndStatus } | null;
  /** Token sums are bigint: a session's sum may pass 2^53 (events carry up to 10^12 each). */
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  reasoningTokens: bigint;
  costNanos: bigint;
  /** Usage events that carried no cost and could not be priced. */
  unpricedEvents: number;
  /** Tokens of those unpriced events (all four kinds). */
  unpricedTokens: bigint;
  /** The latest price-book version any of its events was priced with; null if none. */
  priceVersion: string | null;
  toolCalls: number;
  eventCount: number;
  /** Usage per model (key: the model name, or "(unknown)"), so answers can be grouped by model. */
  models: Record<string, ModelUsage>;
}

/** One model's share of a session's usage. */
export interface ModelUsage {
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  reasoningTokens: bigint;
  costNanos: bigint;
  events: number;
  unpricedEvents: number;
  /** Tokens of this model's unpriced events. */
  unpricedTokens: bigint;
}

/** The models key of usage events that name no model. */
export const UNKNOWN_MODEL = '(unknown)';

/**
 * At most this many models are kept by name per session; the usage of models beyond them (by
 * byte order of their names) is summed under OTHER_MODELS. Keeping the smallest names makes the
 * cap order-independent (merging capped states gives the cap of the merge), so the fold stays a
 * monoid, and it bounds the `models` column whatever a producer sends.
 */
export const MAX_MODELS_PER_SESSION = 100;
/** The models key under which the usage of models beyond MAX_MODELS_PER_SESSION is summed. */
export const OTHER_MODELS = '(other models)';

/** Orders events deterministically: occurredAt, then eventId. */
export interface EventKey {
  atMs: number;
  eventId: string;
}

/**
 * Negative when a sorts before b. Event ids compare by their UTF-8 bytes, as Postgres does
 * with COLLATE "C", so the database breaks ties exactly as this function does.
 */
export function compareKeys(a: EventKey, b: EventKey): number {
  if (a.atMs !== b.atMs) return a.atMs - b.atMs;
  if (a.eventId === b.eventId) return 0;
  return Buffer.compare(Buffer.from(a.eventId, 'utf8'), Buffer.from(b.eventId, 'utf8'));
}

/** The status a session row shows. */
export function sessionStatus(state: SessionState): SessionStatus {
  return state.end?.status ?? 'running';
}

/** The session's start: its earliest start event, else its earliest event. */
export function sessionStartMs(state: SessionState): number {
  return state.startedAtMs ?? state.firstEventAtMs;
}

/** The session's end (its deciding end event), or null while running. */
export function sessionEndMs(state: SessionState): number | null {
  return state.end?.key.atMs ?? null;
}

/** The stable key of a session across tenants. */
export function sessionKey(tenantId: string, sessionId: string): string {
  return `${tenantId}\u0000${sessionId}`;
}

/** Prices an event: its billed cost, or null when it cannot be priced. */
export type PriceOf = (event: TraceEvent) => PricedCost | null;

/** Bills the producer's reported cost only (no price book). */
export const reportedCostOnly: PriceOf = (e) =>
  e.costNanos === null ? null : { costNanos: e.costNanos, source: 'reported', priceVersion: null };

/**
 * The state of a session holding just this one event. `priced` is the event's billed cost
 * (the producer's reported cost, or tokens times the price in force); null means unpriced.
 * `event.voided` contributes nothing here: which events count is the ledger's rule (ledger.ts).
 */
export function eventToState(event: TraceEvent, priced: PricedCost | null = reportedCostOnly(event)): SessionState {
  const key: EventKey = { atMs: event.occurredAtMs, eventId: event.eventId };
  const isUsage = event.type === 'llm.usage';
  const unpriced = isUsage && priced === null;
  const input = isUsage ? BigInt(event.inputTokens) : 0n;
  const output = isUsage ? BigInt(event.outputTokens) : 0n;
  const cached = isUsage ? BigInt(event.cachedInputTokens) : 0n;
  const reasoning = isUsage ? BigInt(event.reasoningTokens) : 0n;
  const unpricedTokens = unpriced ? input + output + cached + reasoning : 0n;
  const costNanos = isUsage ? (priced?.costNanos ?? 0n) : 0n;
  return {
    tenantId: event.tenantId,
    sessionId: event.sessionId,
    agentId: event.agentId,
    agentKey: event.agentId === null ? null : key,
    teamId: event.teamId,
    teamKey: event.teamId === null ? null : key,
    startedAtMs: event.type === 'session.started' ? event.occurredAtMs : null,
    firstEventAtMs: event.occurredAtMs,
    lastEventAtMs: event.occurredAtMs,
    end: event.type === 'session.ended' && event.status !== null ? { key, status: event.status } : null,
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: cached,
    reasoningTokens: reasoning,
    costNanos,
    unpricedEvents: unpriced ? 1 : 0,
    unpricedTokens,
    priceVersion: isUsage ? (priced?.priceVersion ?? null) : null,
    toolCalls: event.type === 'tool.call' ? 1 : 0,
    eventCount: 1,
    models: isUsage
      ? {
          [event.model ?? UNKNOWN_MODEL]: {
            inputTokens: input,
            outputTokens: output,
            cachedInputTokens: cached,
            reasoningTokens: reasoning,
            costNanos,
            events: 1,
            unpricedEvents: unpriced ? 1 : 0,
            unpricedTokens,
          },
        }
      : {},
  };
}

function addUsage(a: ModelUsage, b: ModelUsage): ModelUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    costNanos: a.costNanos + b.costNanos,
    events: a.events + b.events,
    unpricedEvents: a.unpricedEvents + b.unpricedEvents,
    unpricedTokens: a.unpricedTokens + b.unpricedTokens,
  };
}

/** Adds per-model usage key by key, then applies the cap; mirrored by tl_merge_models in SQL. */
function mergeModels(a: Record<string, ModelUsage>, b: Record<string, ModelUsage>): Record<string, ModelUsage> {
  const out: Record<string, ModelUsage> = { ...a };
  for (const [model, u] of Object.entries(b)) {
    const prev = out[model];
    out[model] = prev === undefined ? u : addUsage(prev, u);
  }
  const named = Object.keys(out).filter((m) => m !== OTHER_MODELS);
  if (named.length <= MAX_MODELS_PER_SESSION) return out;
  named.sort((x, y) => Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8')));
  const capped: Record<string, ModelUsage> = {};
  for (const m of named.slice(0, MAX_MODELS_PER_SESSION)) capped[m] = out[m] as ModelUsage;
  let other = out[OTHER_MODELS];
  for (const m of named.slice(MAX_MODELS_PER_SESSION)) other = other === undefined ? (out[m] as ModelUsage) : addUsage(other, out[m] as ModelUsage);
  if (other !== undefined) capped[OTHER_MODELS] = other;
  return capped;
}

/** Merges two states of the same session (associative and commutative). */
export function mergeStates(a: SessionState, b: SessionState): SessionState {
  const agentFromB = b.agentKey !== null && (a.agentKey === null || compareKeys(b.agentKey, a.agentKey) < 0);
  const teamFromB = b.teamKey !== null && (a.teamKey === null || compareKeys(b.teamKey, a.teamKey) < 0);
  const endFromB = b.end !== null && (a.end === null || compareKeys(b.end.key, a.end.key) > 0);
  return {
    tenantId: a.tenantId,
    sessionId: a.sessionId,
    agentId: agentFromB ? b.agentId : a.agentId,
    agentKey: agentFromB ? b.agentKey : a.agentKey,
    teamId: teamFromB ? b.teamId : a.teamId,
    teamKey: teamFromB ? b.teamKey : a.teamKey,
    startedAtMs: minNullable(a.startedAtMs, b.startedAtMs),
    firstEventAtMs: Math.min(a.firstEventAtMs, b.firstEventAtMs),
    lastEventAtMs: Math.max(a.lastEventAtMs, b.lastEventAtMs),
    end: endFromB ? b.end : a.end,
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    costNanos: a.costNanos + b.costNanos,
    unpricedEvents: a.unpricedEvents + b.unpricedEvents,
    unpricedTokens: a.unpricedTokens + b.unpricedTokens,
    priceVersion: maxNullable(a.priceVersion, b.priceVersion),
    toolCalls: a.toolCalls + b.toolCalls,
    eventCount: a.eventCount + b.eventCount,
    models: mergeModels(a.models, b.models),
  };
}

/**
 * Keeps the first event of each (tenant, eventId): the event id is the idempotency key, so a
 * redelivered event is dropped. Order of first appearance is preserved.
 */
export function dedupeEvents<T extends Pick<TraceEvent, 'tenantId' | 'eventId'>>(events: Iterable<T>): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const e of events) {
    const k = `${e.tenantId}\u0000${e.eventId}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}

/**
 * Pre-aggregates already-deduplicated, non-void events into one state per session, so a batch
 * touches each session row once. `priceOf` gives each event's cost (null: unpriced).
 */
export function aggregateBySession(
  events: Iterable<TraceEvent>,
  priceOf: PriceOf = reportedCostOnly,
): Map<string, SessionState> {
  const out = new Map<string, SessionState>();
  for (const e of events) {
    if (e.type === 'event.voided') continue;
    const k = sessionKey(e.tenantId, e.sessionId);
    const s = eventToState(e, priceOf(e));
    const prev = out.get(k);
    out.set(k, prev === undefined ? s : mergeStates(prev, s));
  }
  return out;
}

/**
 * Merges events that all count (already deduplicated, voids and set-aside events removed by the
 * ledger's rule, see `judgeSession` in ledger.ts) into one state; null for none.
 */
export function foldCounting(events: Iterable<TraceEvent>, priceOf: PriceOf = reportedCostOnly): SessionState | null {
  let state: SessionState | null = null;
  for (const e of events) {
    const s = eventToState(e, priceOf(e));
    state = state === null ? s : mergeStates(state, s);
  }
  return state;
}

function maxNullable(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

function minNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
