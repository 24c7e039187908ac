import type { Pool, PoolClient } from 'pg';
import {
  aggregateBySession,
  dedupeEvents,
  formatMoney,
  foldSession,
  parseMoney,
  reportedCostOnly,
  sessionKey,
  traceEvent,
  type PriceOf,
  type PricedCost,
  type SessionState,
  type TraceEvent,
} from '@traceledger/core';

/** An event to fold, with where it came from on the topic (kept for audits and replays). */
export interface SourcedEvent {
  event: TraceEvent;
  partition?: number;
  offset?: string;
  /** Set for events of a staged backfill: recorded (deduplicated) but not counted until it closes. */
  backfillId?: string;
}

/** What one `applyEvents` call did. */
export interface ApplyResult {
  /** Events folded for the first time. */
  applied: number;
  /** Events skipped because their (tenant, event id) was folded before or repeats in the batch. */
  duplicates: number;
  /** Session rows written. */
  sessions: number;
}


/**
 * Folds a batch of events into `trace_sessions` in one transaction, exactly once per
 * (tenant, event id): the event ids are recorded in `applied_events` by the same transaction
 * that changes the rows, so a redelivery finds them and is a no-op. New events are
 * pre-aggregated per session (pure fold) and merged with one upsert, so each row is touched
 * once per batch whatever the batch size. Voids are applied by recomputing the sessions they
 * touch from `applied_events`. The caller commits Kafka offsets only after this resolves.
 */
export async function applyEvents(pool: Pool, batch: readonly SourcedEvent[], priceOf: PriceOf = reportedCostOnly): Promise<ApplyResult> {
  if (batch.length === 0) return { applied: 0, duplicates: 0, sessions: 0 };
  const distinct = dedupeEvents(batch.map((s) => ({ ...s, tenantId: s.event.tenantId, eventId: s.event.eventId })));
  // A stable order (tenant, event id) so concurrent transactions lock rows in the same order.
  distinct.sort((a, b) => cmp(a.tenantId, b.tenantId) || cmp(a.eventId, b.eventId));
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const inserted = await insertLedger(client, distinct, priceOf);
    // Events of an open backfill wait in the ledger until it is closed (see backfill.ts).
    const fresh = inserted.filter((s) => s.backfillId === undefined).map((s) => s.event);
    const voids = fresh.filter((e) => e.type === 'event.voided');
    // Events that a void recorded earlier has already cancelled never count.
    const alreadyVoided = await voidedBeforeArrival(client, fresh);
    const countable = fresh.filter((e) => e.type !== 'event.voided' && !alreadyVoided.has(sessionKey(e.tenantId, e.eventId)));
    const states = [...aggregateBySession(countable, priceOf).values()];
    states.sort((a, b) => cmp(a.tenantId, b.tenantId) || cmp(a.sessionId, b.sessionId));
    await upsertSessions(client, states);
    const recomputed = voids.length > 0 ? await applyVoids(client, voids) : 0;
    await client.query('COMMIT');
    return { applied: inserted.length, duplicates: batch.length - inserted.length, sessions: states.length + recomputed };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Records events in the ledger; returns the ones not seen before. */
async function insertLedger(
  client: PoolClient,
  events: readonly (SourcedEvent & { eventId: string; tenantId: string })[],
  priceOf: PriceOf,
): Promise<SourcedEvent[]> {
  const rows = events.map(({ event: e, partition, offset, backfillId }) => {
    const priced = e.type === 'llm.usage' ? priceOf(e) : null;
    return {
      tenant_id: e.tenantId,
      event_id: e.eventId,
      session_id: e.sessionId,
      type: e.type,
      occurred_at: new Date(e.occurredAtMs).toISOString(),
      agent_id: e.agentId,
      team_id: e.teamId,
      provider: e.provider,
      model: e.model,
      input_tokens: e.inputTokens,
      output_tokens: e.outputTokens,
      cached_input_tokens: e.cachedInputTokens,
      reasoning_tokens: e.reasoningTokens,
      reported_cost: e.costNanos === null ? null : formatMoney(e.costNanos),
      cost: priced === null ? null : formatMoney(priced.costNanos),
      cost_source: priced?.source ?? null,
      price_version: priced?.priceVersion ?? null,
      status: e.status,
      voids_event_id: e.voidsEventId,
      source_partition: partition ?? null,
      source_offset: offset ?? null,
      backfill_id: backfillId ?? null,
      staged: backfillId !== undefined,
    };
  });
  const { rows: inserted } = await client.query<{ tenant_id: string; event_id: string }>(
    `INSERT INTO applied_events (tenant_id, event_id, session_id, type, occurred_at, agent_id, team_id, provider, model,
        input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, reported_cost, cost, cost_source, price_version,
        status, voids_event_id, source_partition, source_offset, backfill_id, staged)
     SELECT tenant_id, event_id, session_id, type, occurred_at, agent_id, team_id, provider, model,
        input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, reported_cost, cost, cost_source, price_version,
        status, voids_event_id, source_partition, source_offset, backfill_id, staged
     FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, event_id text, session_id text, type text, occurred_at timestamptz,
        agent_id text, team_id text, provider text, model text, input_tokens bigint, output_tokens bigint,
        cached_input_tokens bigint, reasoning_tokens bigint, reported_cost numeric, cost numeric, cost_source text,
        price_version text, status text, voids_event_id text, source_partition integer, source_offset bigint,
        backfill_id text, staged boolean)
     ON CONFLICT (tenant_id, event_id) DO NOTHING
     RETURNING tenant_id, event_id`,
    [JSON.stringify(rows)],
  );
  const fresh = new Set(inserted.map((r) => sessionKey(r.tenant_id, r.event_id)));
  return events.filter((s) => fresh.has(sessionKey(s.tenantId, s.eventId)));
}

/** Of the fresh events, those a void already in the ledger cancels (same tenant and session). */
async function voidedBeforeArrival(client: PoolClient, fresh: readonly TraceEvent[]): Promise<Set<string>> {
  const candidates = fresh.filter((e) => e.type !== 'event.voided');
  if (candidates.length === 0) return new Set();
  const { rows } = await client.query<{ tenant_id: string; voids_event_id: string; event_id: string }>(
    `WITH c AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, event_id text, session_id text))
     SELECT v.tenant_id, v.voids_event_id, min(v.event_id) AS event_id
     FROM applied_events v JOIN c ON v.tenant_id = c.tenant_id AND v.voids_event_id = c.event_id AND v.session_id = c.session_id
     WHERE v.type = 'event.voided' AND NOT v.staged
     GROUP BY v.tenant_id, v.voids_event_id`,
    [JSON.stringify(candidates.map((e) => ({ tenant_id: e.tenantId, event_id: e.eventId, session_id: e.sessionId })))],
  );
  if (rows.length > 0) {
    await client.query(
      `UPDATE applied_events a SET voided_by = x.event_id
       FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, voids_event_id text, event_id text)
       WHERE a.tenant_id = x.tenant_id AND a.event_id = x.voids_event_id AND a.voided_by IS NULL`,
      [JSON.stringify(rows)],
    );
  }
  return new Set(rows.map((r) => sessionKey(r.tenant_id, r.voids_event_id)));
}

/** Merges pre-aggregated states into their rows; the SQL mirrors `mergeStates` in the fold. */
export async function upsertSessions(client: PoolClient, states: readonly SessionState[]): Promise<void> {
  if (states.length === 0) return;
  await client.query(
    `INSERT INTO trace_sessions AS t (tenant_id, session_id, agent_id, agent_key_at, agent_key_event, team_id, team_key_at,
        team_key_event, started_event_at, first_event_at, last_event_at, ended_at, end_event_id, status, input_tokens,
        output_tokens, cached_input_tokens, reasoning_tokens, cost, unpriced_events, unpriced_tokens, price_version,
        tool_calls, event_count, models)
     SELECT tenant_id, session_id, agent_id, agent_key_at, agent_key_event, team_id, team_key_at, team_key_event,
        started_event_at, first_event_at, last_event_at, ended_at, end_event_id, coalesce(status, 'running'),
        input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, unpriced_events, unpriced_tokens,
        price_version, tool_calls, event_count, models
     FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, agent_id text, agent_key_at timestamptz,
        agent_key_event text, team_id text, team_key_at timestamptz, team_key_event text, started_event_at timestamptz,
        first_event_at timestamptz, last_event_at timestamptz, ended_at timestamptz, end_event_id text, status text,
        input_tokens bigint, output_tokens bigint, cached_input_tokens bigint, reasoning_tokens bigint, cost numeric,
        unpriced_events integer, unpriced_tokens bigint, price_version text, tool_calls integer, event_count integer,
        models jsonb)
     ON CONFLICT (tenant_id, session_id) DO UPDATE SET
       agent_id = CASE WHEN ${earlier('agent')} THEN EXCLUDED.agent_id ELSE t.agent_id END,
       agent_key_event = CASE WHEN ${earlier('agent')} THEN EXCLUDED.agent_key_event ELSE t.agent_key_event END,
       agent_key_at = CASE WHEN ${earlier('agent')} THEN EXCLUDED.agent_key_at ELSE t.agent_key_at END,
       team_id = CASE WHEN ${earlier('team')} THEN EXCLUDED.team_id ELSE t.team_id END,
       team_key_event = CASE WHEN ${earlier('team')} THEN EXCLUDED.team_key_event ELSE t.team_key_event END,
       team_key_at = CASE WHEN ${earlier('team')} THEN EXCLUDED.team_key_at ELSE t.team_key_at END,
       started_event_at = least(t.started_event_at, EXCLUDED.started_event_at),
       first_event_at = least(t.first_event_at, EXCLUDED.first_event_at),
       last_event_at = greatest(t.last_event_at, EXCLUDED.last_event_at),
       status = CASE WHEN ${laterEnd} THEN EXCLUDED.status ELSE t.status END,
       end_event_id = CASE WHEN ${laterEnd} THEN EXCLUDED.end_event_id ELSE t.end_event_id END,
       ended_at = CASE WHEN ${laterEnd} THEN EXCLUDED.ended_at ELSE t.ended_at END,
       input_tokens = t.input_tokens + EXCLUDED.input_tokens,
       output_tokens = t.output_tokens + EXCLUDED.output_tokens,
       cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
       reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
       cost = t.cost + EXCLUDED.cost,
       unpriced_events = t.unpriced_events + EXCLUDED.unpriced_events,
       unpriced_tokens = t.unpriced_tokens + EXCLUDED.unpriced_tokens,
       price_version = CASE WHEN t.price_version IS NULL OR EXCLUDED.price_version COLLATE "C" > t.price_version COLLATE "C"
                            THEN coalesce(EXCLUDED.price_version, t.price_version) ELSE t.price_version END,
       tool_calls = t.tool_calls + EXCLUDED.tool_calls,
       event_count = t.event_count + EXCLUDED.event_count,
       models = tl_merge_models(t.models, EXCLUDED.models),
       updated_at = now()`,
    [JSON.stringify(states.map(stateToRow))],
  );
}

// The SET list reads the old row (t) throughout, so each CASE sees the pre-update key.
function earlier(prefix: 'agent' | 'team'): string {
  const at = `${prefix}_key_at`;
  const ev = `${prefix}_key_event`;
  return `(EXCLUDED.${at} IS NOT NULL AND (t.${at} IS NULL OR (EXCLUDED.${at}, EXCLUDED.${ev}) < (t.${at}, t.${ev})))`;
}
const laterEnd = `(EXCLUDED.ended_at IS NOT NULL AND (t.ended_at IS NULL OR (EXCLUDED.ended_at, EXCLUDED.end_event_id) > (t.ended_at, t.end_event_id)))`;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function stateToRow(s: SessionState): Record<string, unknown> {
  return {
    tenant_id: s.tenantId,
    session_id: s.sessionId,
    agent_id: s.agentId,
    agent_key_at: iso(s.agentKey?.atMs ?? null),
    agent_key_event: s.agentKey?.eventId ?? null,
    team_id: s.teamId,
    team_key_at: iso(s.teamKey?.atMs ?? null),
    team_key_event: s.teamKey?.eventId ?? null,
    started_event_at: iso(s.startedAtMs),
    first_event_at: iso(s.firstEventAtMs),
    last_event_at: iso(s.lastEventAtMs),
    ended_at: iso(s.end?.key.atMs ?? null),
    end_event_id: s.end?.key.eventId ?? null,
    status: s.end?.status ?? null,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    cached_input_tokens: s.cachedInputTokens,
    reasoning_tokens: s.reasoningTokens,
    cost: formatMoney(s.costNanos),
    unpriced_events: s.unpricedEvents,
    unpriced_tokens: s.unpricedTokens,
    price_version: s.priceVersion,
    tool_calls: s.toolCalls,
    event_count: s.eventCount,
    models: Object.fromEntries(
      Object.entries(s.models).map(([model, u]) => [
        model,
        {
          input: u.inputTokens,
          output: u.outputTokens,
          cached: u.cachedInputTokens,
          reasoning: u.reasoningTokens,
          cost: formatMoney(u.costNanos),
          events: u.events,
          unpriced: u.unpricedEvents,
          unpriced_tokens: u.unpricedTokens,
        },
      ]),
    ),
  };
}

/**
 * Applies fresh voids: marks each target (same tenant and session) voided, then recomputes
 * every touched session from its remaining ledger events. A void whose target has not arrived
 * yet stays in the ledger and cancels the target when it does (see voidedBeforeArrival).
 * Returns the number of sessions recomputed.
 */
async function applyVoids(client: PoolClient, voids: readonly TraceEvent[]): Promise<number> {
  const { rows: hit } = await client.query<{ tenant_id: string; session_id: string }>(
    `UPDATE applied_events a SET voided_by = x.event_id
     FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, event_id text, voids_event_id text)
     WHERE a.tenant_id = x.tenant_id AND a.event_id = x.voids_event_id AND a.session_id = x.session_id
       AND a.type <> 'event.voided' AND a.voided_by IS NULL
     RETURNING a.tenant_id, a.session_id`,
    [JSON.stringify(voids.map((v) => ({ tenant_id: v.tenantId, session_id: v.sessionId, event_id: v.eventId, voids_event_id: v.voidsEventId })))],
  );
  const sessions = new Map(hit.map((r) => [sessionKey(r.tenant_id, r.session_id), { tenantId: r.tenant_id, sessionId: r.session_id }]));
  await recomputeSessions(client, [...sessions.values()]);
  return sessions.size;
}

/** Rewrites one session row from its applied, non-voided, non-staged events (deleting it if none remain). */
export async function recomputeSession(client: PoolClient, tenantId: string, sessionId: string): Promise<void> {
  await recomputeSessions(client, [{ tenantId, sessionId }]);
}

const RECOMPUTE_CHUNK = 1000;

/**
 * Rewrites session rows from their applied, non-voided, non-staged events (deleting those with
 * none left), a thousand sessions per round trip: one read of their ledger rows, the pure fold per
 * session, one delete and one upsert. Each event keeps the cost it was billed at when first applied.
 */
export async function recomputeSessions(client: PoolClient, sessions: readonly { tenantId: string; sessionId: string }[]): Promise<void> {
  const keys = [...new Map(sessions.map((s) => [sessionKey(s.tenantId, s.sessionId), s])).values()].sort(
    (a, b) => cmp(a.tenantId, b.tenantId) || cmp(a.sessionId, b.sessionId),
  );
  for (let i = 0; i < keys.length; i += RECOMPUTE_CHUNK) {
    const chunk = JSON.stringify(keys.slice(i, i + RECOMPUTE_CHUNK).map((k) => ({ tenant_id: k.tenantId, session_id: k.sessionId })));
    const { rows } = await client.query<LedgerRow & { tenant_id: string; session_id: string }>(
      `SELECT a.tenant_id, a.session_id, event_id, type, (extract(epoch FROM occurred_at) * 1000)::bigint::text AS occurred_ms,
              agent_id, team_id, provider, model, input_tokens::text, output_tokens::text, cached_input_tokens::text,
              reasoning_tokens::text, reported_cost::text, cost::text, cost_source, price_version, status
       FROM applied_events a JOIN jsonb_to_recordset($1::jsonb) AS k(tenant_id text, session_id text)
         ON a.tenant_id = k.tenant_id AND a.session_id = k.session_id
       WHERE type <> 'event.voided' AND voided_by IS NULL AND NOT staged`,
      [chunk],
    );
    const bySession = new Map<string, (LedgerRow & { tenant_id: string; session_id: string })[]>();
    for (const r of rows) {
      const k = sessionKey(r.tenant_id, r.session_id);
      const list = bySession.get(k);
      if (list) list.push(r);
      else bySession.set(k, [r]);
    }
    const states: SessionState[] = [];
    for (const list of bySession.values()) {
      const first = list[0];
      if (first === undefined) continue;
      const billed = new Map<string, PricedCost | null>(
        list.map((r) => [
          r.event_id,
          r.cost === null || r.cost_source === null ? null : { costNanos: parseMoney(r.cost), source: r.cost_source, priceVersion: r.price_version },
        ]),
      );
      const state = foldSession(
        list.map((r) => ledgerRowToEvent(first.tenant_id, first.session_id, r)),
        (e) => billed.get(e.eventId) ?? null,
      );
      if (state !== null) states.push(state);
    }
    await client.query(
      `DELETE FROM trace_sessions t USING jsonb_to_recordset($1::jsonb) AS k(tenant_id text, session_id text)
       WHERE t.tenant_id = k.tenant_id AND t.session_id = k.session_id`,
      [chunk],
    );
    await upsertSessions(client, states);
  }
}

interface LedgerRow {
  event_id: string;
  type: TraceEvent['type'];
  occurred_ms: string;
  agent_id: string | null;
  team_id: string | null;
  provider: string | null;
  model: string | null;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
  reasoning_tokens: string;
  reported_cost: string | null;
  cost: string | null;
  cost_source: PricedCost['source'] | null;
  price_version: string | null;
  status: TraceEvent['status'];
}

function ledgerRowToEvent(tenantId: string, sessionId: string, r: LedgerRow): TraceEvent {
  return traceEvent({
    eventId: r.event_id,
    tenantId,
    sessionId,
    agentId: r.agent_id,
    teamId: r.team_id,
    type: r.type,
    occurredAtMs: Number(r.occurred_ms),
    provider: r.provider,
    model: r.model,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cachedInputTokens: Number(r.cached_input_tokens),
    reasoningTokens: Number(r.reasoning_tokens),
    costNanos: r.reported_cost === null ? null : parseMoney(r.reported_cost),
    status: r.status,
  });
}
