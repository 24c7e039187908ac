import { randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import { formatMoney, parseMoney, traceEvent, type EventMarks, type LedgerEntry, type PricedCost, type SessionState, type TraceEvent } from '@traceledger/core';
import { pgArray } from '../pg-array.js';
import { sessionRefKey, type LedgerTx, type SessionRef } from './tx.js';

/**
 * The SQL of the ledger's tables, one function per operation, each run inside the caller's
 * LedgerTx (which holds the locks). Token sums travel as exact integers: bigint in code, JSON
 * numbers with every digit in the payloads, numeric(38,0) in Postgres.
 */

// A marker no value can contain (a fresh random part per process), replaced by the bare digits.
const BIG_MARK = `\u0000big${randomBytes(4).toString('hex')}:`;
const BIG_RE = new RegExp(`"${JSON.stringify(BIG_MARK).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+)"`, 'g');

/** JSON text in which bigint values are numbers with all their digits. */
export function exactJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${BIG_MARK}${v.toString()}` : v)).replace(BIG_RE, '$1');
}

/** A ledger row to record. */
export interface NewLedgerRow {
  event: TraceEvent;
  billed: PricedCost | null;
  live: boolean;
  staged: boolean;
  partition: number | null;
  offset: string | null;
  /** The ledger month of the event's session ('YYYY-MM-01'): the partition the row goes to. */
  month: string;
}

/**
 * Records events of locked sessions (ON CONFLICT DO NOTHING). Returns the positions in `rows` of
 * those already recorded (not recorded now), and of those recorded now that a void recorded
 * before names (same tenant and session), both found by the INSERT statement itself; in the
 * common batch of new events it answers no row at all.
 */
export async function insertLedgerRows(tx: LedgerTx, rows: readonly NewLedgerRow[]): Promise<{ repeated: Set<number>; namedByVoid: Set<number> }> {
  if (rows.length === 0) return { repeated: new Set(), namedByVoid: new Set() };
  tx.assertLocked(rows.map((r) => ({ tenantId: r.event.tenantId, sessionId: r.event.sessionId })));
  const marked = await insertRows(tx.client, 'applied_events', rows, 'ledger');
  const repeated = new Set<number>();
  const namedByVoid = new Set<number>();
  for (const r of marked) (r.repeat ? repeated : namedByVoid).add(r.n - 1);
  return { repeated, namedByVoid };
}

/** Records events in a replay's shadow copy of the ledger; returns the keys of those recorded now. */
export async function insertShadowRows(client: Pick<PoolClient, 'query'>, table: string, rows: readonly NewLedgerRow[]): Promise<Set<string>> {
  const repeated = new Set((await insertRows(client, table, rows, 'shadow')).map((r) => r.n - 1));
  const fresh = new Set<string>();
  rows.forEach((r, i) => {
    if (!repeated.has(i)) fresh.add(eventKey(r.event.tenantId, r.event.eventId));
  });
  return fresh;
}

/**
 * The INSERT of ledger rows into `table`. Answers only the rows that were already recorded
 * (`repeat`, by 1-based position `n`) and, for the ledger, the rows recorded now that a void
 * already in it names (the statement's snapshot predates its own inserts, and voids of this batch
 * are handled by the caller anyway). A row repeated within `rows` is recorded once and not
 * answered (callers give each event once).
 *
 * The ledger (partitioned by month) cannot hold a unique (tenant_id, event_id): the key goes to
 * `applied_event_keys` first (ON CONFLICT DO NOTHING, which waits for a concurrent transaction
 * inserting the same key, as a unique index does), and only rows whose key is new reach the
 * ledger, in the same statement. A replay's shadow table (unpartitioned) holds the key itself.
 */
async function insertRows(client: Pick<PoolClient, 'query'>, table: string, rows: readonly NewLedgerRow[], mode: 'ledger' | 'shadow'): Promise<{ n: number; repeat: boolean }[]> {
  if (rows.length === 0) return [];
  // One typed array per column (unnest): Postgres parses array literals about three times faster
  // than the same rows as JSON (jsonb_to_recordset), the fold's largest statement.
  const cols = LEDGER_COLUMNS.map(([, , value]) => rows.map(value));
  const names = LEDGER_COLUMNS.map(([c]) => c).join(', ');
  const source = `x AS (SELECT * FROM unnest(${LEDGER_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) WITH ORDINALITY AS x(${names}, n))`;
  const sql =
    mode === 'ledger'
      ? `WITH ${source},
         k AS (INSERT INTO applied_event_keys (tenant_id, event_id, session_id, ledger_month)
           SELECT tenant_id, event_id, session_id, ledger_month FROM x
           ON CONFLICT (tenant_id, event_id) DO NOTHING
           RETURNING tenant_id, event_id),
         ins AS (INSERT INTO ${table} (${names}) SELECT ${names.split(', ').map((c) => `x.${c}`).join(', ')}
           FROM x JOIN k ON k.tenant_id = x.tenant_id AND k.event_id = x.event_id)
         SELECT x.n::int AS n, k.event_id IS NULL AS repeat FROM x LEFT JOIN k ON k.tenant_id = x.tenant_id AND k.event_id = x.event_id
         WHERE k.event_id IS NULL
            OR EXISTS (SELECT 1 FROM ${table} v WHERE v.ledger_month = x.ledger_month AND v.tenant_id = x.tenant_id
                 AND v.voids_event_id = x.event_id AND v.session_id = x.session_id AND v.type = 'event.voided')`
      : `WITH ${source},
         ins AS (INSERT INTO ${table} (${names}) SELECT ${names} FROM x
           ON CONFLICT (tenant_id, event_id) DO NOTHING
           RETURNING tenant_id, event_id)
         SELECT x.n::int AS n, true AS repeat FROM x LEFT JOIN ins ON ins.tenant_id = x.tenant_id AND ins.event_id = x.event_id
         WHERE ins.event_id IS NULL`;
  const { rows: marked } = await client.query<{ n: number; repeat: boolean }>(sql, cols.map(pgArray));
  return marked;
}

/** The ledger's columns as `insertRows` writes them: name, type and the row's value. */
const LEDGER_COLUMNS: readonly (readonly [string, string, (r: NewLedgerRow) => unknown])[] = [
  ['tenant_id', 'text', (r) => r.event.tenantId],
  ['event_id', 'text', (r) => r.event.eventId],
  ['session_id', 'text', (r) => r.event.sessionId],
  ['type', 'text', (r) => r.event.type],
  ['occurred_at', 'timestamptz', (r) => new Date(r.event.occurredAtMs).toISOString()],
  ['agent_id', 'text', (r) => r.event.agentId],
  ['team_id', 'text', (r) => r.event.teamId],
  ['provider', 'text', (r) => r.event.provider],
  ['model', 'text', (r) => r.event.model],
  ['input_tokens', 'bigint', (r) => r.event.inputTokens],
  ['output_tokens', 'bigint', (r) => r.event.outputTokens],
  ['cached_input_tokens', 'bigint', (r) => r.event.cachedInputTokens],
  ['reasoning_tokens', 'bigint', (r) => r.event.reasoningTokens],
  ['reported_cost', 'numeric', (r) => (r.event.costNanos === null ? null : formatMoney(r.event.costNanos))],
  ['cost', 'numeric', (r) => (r.billed === null ? null : formatMoney(r.billed.costNanos))],
  ['cost_source', 'text', (r) => r.billed?.source ?? null],
  ['price_version', 'text', (r) => r.billed?.priceVersion ?? null],
  ['status', 'text', (r) => r.event.status],
  ['voids_event_id', 'text', (r) => r.event.voidsEventId],
  ['source_partition', 'integer', (r) => r.partition],
  ['source_offset', 'bigint', (r) => r.offset],
  ['live', 'boolean', (r) => r.live],
  ['staged', 'boolean', (r) => r.staged],
  ['ledger_month', 'date', (r) => r.month],
];

/** The key of an event in maps and sets. */
export function eventKey(tenantId: string, eventId: string): string {
  return `${tenantId}\u0000${eventId}`;
}

/** The session and sources of already-recorded events (by `tenant\0event`). */
export async function existingLedgerRows(tx: LedgerTx, events: readonly { tenantId: string; eventId: string }[]): Promise<Map<string, { sessionId: string; live: boolean }>> {
  if (events.length === 0) return new Map();
  const { rows } = await tx.query<{ tenant_id: string; event_id: string; session_id: string; live: boolean }>(
    `SELECT a.tenant_id, a.event_id, a.session_id, a.live
     FROM unnest($1::text[], $2::text[]) AS x(t, e)
     JOIN applied_event_keys k ON k.tenant_id = x.t AND k.event_id = x.e
     JOIN applied_events a ON a.ledger_month = k.ledger_month AND a.tenant_id = k.tenant_id AND a.session_id = k.session_id AND a.event_id = k.event_id`,
    [events.map((e) => e.tenantId), events.map((e) => e.eventId)],
  );
  return new Map(rows.map((r) => [eventKey(r.tenant_id, r.event_id), { sessionId: r.session_id, live: r.live }]));
}

/** Marks recorded events of locked sessions as also arrived live. */
export async function markLive(tx: LedgerTx, events: readonly { tenantId: string; eventId: string; sessionId: string }[]): Promise<void> {
  if (events.length === 0) return;
  tx.assertLocked(events);
  await tx.query(
    `UPDATE applied_events a SET live = true
     FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, e, s)
     WHERE a.tenant_id = k.t AND a.event_id = k.e AND a.session_id = k.s AND NOT a.live`,
    [events.map((e) => e.tenantId), events.map((e) => e.eventId), events.map((e) => e.sessionId)],
  );
}

/** Records backfill memberships; returns those new now. */
export async function insertMemberships(
  tx: LedgerTx,
  members: readonly { backfillId: string; tenantId: string; eventId: string; sessionId: string }[],
): Promise<{ backfillId: string; tenantId: string; eventId: string; sessionId: string }[]> {
  if (members.length === 0) return [];
  tx.assertLocked(members);
  const { rows } = await tx.query<{ backfill_id: string; tenant_id: string; event_id: string; session_id: string }>(
    `INSERT INTO backfill_events (backfill_id, tenant_id, event_id, session_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT DO NOTHING
     RETURNING backfill_id, tenant_id, event_id, session_id`,
    [members.map((m) => m.backfillId), members.map((m) => m.tenantId), members.map((m) => m.eventId), members.map((m) => m.sessionId)],
  );
  return rows.map((r) => ({ backfillId: r.backfill_id, tenantId: r.tenant_id, eventId: r.event_id, sessionId: r.session_id }));
}

/** A ledger row as stored, with its marks and memberships. */
export interface StoredEntry extends LedgerEntry {
  marks: EventMarks;
}

interface StoredRow {
  tenant_id: string;
  session_id: string;
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
  voids_event_id: string | null;
  live: boolean;
  staged: boolean;
  voided_by: string | null;
  replaced_by: string | null;
  backfills: string[];
}

/** The columns `storedEntry` reads, from an applied_events row aliased `a`. */
export const STORED_COLUMNS = `a.tenant_id, a.session_id, a.event_id, a.type, (extract(epoch FROM a.occurred_at) * 1000)::bigint::text AS occurred_ms,
  a.agent_id, a.team_id, a.provider, a.model, a.input_tokens::text, a.output_tokens::text, a.cached_input_tokens::text,
  a.reasoning_tokens::text, a.reported_cost::text, a.cost::text, a.cost_source, a.price_version, a.status, a.voids_event_id,
  a.live, a.staged, a.voided_by, a.replaced_by,
  ARRAY(SELECT be.backfill_id FROM backfill_events be WHERE be.tenant_id = a.tenant_id AND be.event_id = a.event_id ORDER BY 1) AS backfills`;

/** A stored row as the rule sees it. */
export function storedEntry(r: StoredRow): StoredEntry {
  const event = traceEvent({
    eventId: r.event_id,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
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
    voidsEventId: r.voids_event_id,
  });
  const billed: PricedCost | null =
    r.cost === null || r.cost_source === null ? null : { costNanos: parseMoney(r.cost), source: r.cost_source, priceVersion: r.price_version };
  return { event, billed, live: r.live, backfills: r.backfills, marks: { staged: r.staged, voidedBy: r.voided_by, replacedBy: r.replaced_by } };
}

export type { StoredRow };

/** Every ledger row of the given (locked) sessions, grouped by session key. */
export async function readSessionEntries(tx: LedgerTx, sessions: readonly SessionRef[]): Promise<Map<string, StoredEntry[]>> {
  tx.assertLocked(sessions);
  return selectEntries(tx.client, sessions);
}

/** Every ledger row of the given sessions, grouped by session key, without locks (verify reads a snapshot). */
export async function selectEntries(client: Pick<PoolClient, 'query'>, sessions: readonly SessionRef[]): Promise<Map<string, StoredEntry[]>> {
  const out = new Map<string, StoredEntry[]>();
  if (sessions.length === 0) return out;
  const { rows } = await client.query<StoredRow>(
    `SELECT ${STORED_COLUMNS} FROM applied_events a
     JOIN unnest($1::text[], $2::text[]) AS k(t, s) ON a.tenant_id = k.t AND a.session_id = k.s
     ORDER BY a.tenant_id, a.session_id, a.event_id COLLATE "C"`,
    [sessions.map((s) => s.tenantId), sessions.map((s) => s.sessionId)],
  );
  for (const r of rows) {
    const k = sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id });
    const list = out.get(k);
    const entry = storedEntry(r);
    if (list) list.push(entry);
    else out.set(k, [entry]);
  }
  return out;
}

/** Writes changed marks of ledger rows of locked sessions. */
export async function writeMarks(tx: LedgerTx, changes: readonly { tenantId: string; sessionId: string; eventId: string; marks: EventMarks }[]): Promise<void> {
  if (changes.length === 0) return;
  tx.assertLocked(changes);
  await tx.query(
    `UPDATE applied_events a SET staged = x.staged, voided_by = x.voided_by, replaced_by = x.replaced_by
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::text[]) AS x(tenant_id, session_id, event_id, staged, voided_by, replaced_by)
     WHERE a.tenant_id = x.tenant_id AND a.session_id = x.session_id AND a.event_id = x.event_id`,
    [
      changes.map((c) => c.tenantId),
      changes.map((c) => c.sessionId),
      changes.map((c) => c.eventId),
      changes.map((c) => c.marks.staged),
      changes.map((c) => c.marks.voidedBy),
      changes.map((c) => c.marks.replacedBy),
    ],
  );
}

/** Writes changed owners of locked sessions. */
export async function writeOwners(tx: LedgerTx, changes: readonly { tenantId: string; sessionId: string; owner: string | null }[]): Promise<void> {
  if (changes.length === 0) return;
  tx.assertLocked(changes);
  await tx.query(
    `UPDATE ledger_sessions s SET owner = k.o FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, sid, o)
     WHERE s.tenant_id = k.t AND s.session_id = k.sid`,
    [changes.map((c) => c.tenantId), changes.map((c) => c.sessionId), changes.map((c) => c.owner)],
  );
  for (const c of changes) tx.owners.set(sessionRefKey(c), c.owner);
}

/**
 * The session columns the upserts write: name, type and the state's value (bigints as their
 * digits, models as exact JSON); `stateToRow` gives the same values by name (verify compares them).
 */
const SESSION_ROW_COLUMNS: readonly (readonly [string, string, (s: SessionState) => unknown])[] = [
  ['tenant_id', 'text', (s) => s.tenantId],
  ['session_id', 'text', (s) => s.sessionId],
  ['agent_id', 'text', (s) => s.agentId],
  ['agent_key_at', 'timestamptz', (s) => iso(s.agentKey?.atMs ?? null)],
  ['agent_key_event', 'text', (s) => s.agentKey?.eventId ?? null],
  ['team_id', 'text', (s) => s.teamId],
  ['team_key_at', 'timestamptz', (s) => iso(s.teamKey?.atMs ?? null)],
  ['team_key_event', 'text', (s) => s.teamKey?.eventId ?? null],
  ['started_event_at', 'timestamptz', (s) => iso(s.startedAtMs)],
  ['first_event_at', 'timestamptz', (s) => iso(s.firstEventAtMs)],
  ['last_event_at', 'timestamptz', (s) => iso(s.lastEventAtMs)],
  ['ended_at', 'timestamptz', (s) => iso(s.end?.key.atMs ?? null)],
  ['end_event_id', 'text', (s) => s.end?.key.eventId ?? null],
  ['status', 'text', (s) => s.end?.status ?? null],
  ['input_tokens', 'numeric', (s) => s.inputTokens],
  ['output_tokens', 'numeric', (s) => s.outputTokens],
  ['cached_input_tokens', 'numeric', (s) => s.cachedInputTokens],
  ['reasoning_tokens', 'numeric', (s) => s.reasoningTokens],
  ['cost', 'numeric', (s) => formatMoney(s.costNanos)],
  ['unpriced_events', 'bigint', (s) => s.unpricedEvents],
  ['unpriced_tokens', 'numeric', (s) => s.unpricedTokens],
  ['price_version', 'text', (s) => s.priceVersion],
  ['tool_calls', 'bigint', (s) => s.toolCalls],
  ['event_count', 'bigint', (s) => s.eventCount],
  ['models', 'jsonb', (s) => modelsJson(s.models)],
];
const SESSION_COLUMN_NAMES = SESSION_ROW_COLUMNS.map(([c]) => c).join(', ');
const SESSION_SOURCE = `SELECT tenant_id, session_id, agent_id, agent_key_at, agent_key_event, team_id, team_key_at, team_key_event,
    started_event_at, first_event_at, last_event_at, ended_at, end_event_id, coalesce(status, 'running'),
    input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, unpriced_events, unpriced_tokens,
    price_version, tool_calls, event_count, models
  FROM unnest(${SESSION_ROW_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS x(${SESSION_COLUMN_NAMES})
  ORDER BY tenant_id COLLATE "C", session_id COLLATE "C"`;

/** The upserts' parameters: one array literal per column, in SESSION_ROW_COLUMNS' order. */
function sessionParams(states: readonly SessionState[]): string[] {
  return SESSION_ROW_COLUMNS.map(([, , value]) => pgArray(states.map(value)));
}

/** A session's per-model usage as the JSON `stateToRow` gives it, written directly (exact digits). */
export function modelsJson(models: SessionState['models']): string {
  let out = '{';
  let first = true;
  for (const [model, u] of Object.entries(models)) {
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(model)}:{"input":${u.inputTokens},"output":${u.outputTokens},"cached":${u.cachedInputTokens},"reasoning":${u.reasoningTokens},"cost":${JSON.stringify(formatMoney(u.costNanos))},"events":${u.events},"unpriced":${u.unpricedEvents},"unpriced_tokens":${u.unpricedTokens}}`;
  }
  return `${out}}`;
}

// The SET list reads the old row (t) throughout, so each CASE sees the pre-update key.
function earlier(prefix: 'agent' | 'team'): string {
  const at = `${prefix}_key_at`;
  const ev = `${prefix}_key_event`;
  return `(EXCLUDED.${at} IS NOT NULL AND (t.${at} IS NULL OR (EXCLUDED.${at}, EXCLUDED.${ev}) < (t.${at}, t.${ev})))`;
}
const laterEnd = `(EXCLUDED.ended_at IS NOT NULL AND (t.ended_at IS NULL OR (EXCLUDED.ended_at, EXCLUDED.end_event_id) > (t.ended_at, t.end_event_id)))`;

/**
 * Merges pre-aggregated states of new counting events into their rows (locked sessions); the SQL
 * mirrors `mergeStates` in packages/core/src/fold.ts column by column.
 */
export async function mergeSessions(tx: LedgerTx, states: readonly SessionState[]): Promise<void> {
  if (states.length === 0) return;
  tx.assertLocked(states);
  await tx.query(
    `INSERT INTO trace_sessions AS t (${SESSION_COLUMN_NAMES})
     ${SESSION_SOURCE}
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
    sessionParams(states),
  );
}

/** Writes whole rows (recomputed from the ledger) over whatever the locked sessions had. */
export async function replaceSessions(tx: LedgerTx, states: readonly SessionState[]): Promise<void> {
  if (states.length === 0) return;
  tx.assertLocked(states);
  const cols = SESSION_ROW_COLUMNS.map(([c]) => c).filter((c) => c !== 'tenant_id' && c !== 'session_id');
  await tx.query(
    `INSERT INTO trace_sessions AS t (${SESSION_COLUMN_NAMES})
     ${SESSION_SOURCE}
     ON CONFLICT (tenant_id, session_id) DO UPDATE SET ${cols.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`,
    sessionParams(states),
  );
}

/** Deletes the rows of locked sessions where nothing counts any more. */
export async function deleteSessions(tx: LedgerTx, sessions: readonly SessionRef[]): Promise<void> {
  if (sessions.length === 0) return;
  tx.assertLocked(sessions);
  await tx.query(
    `DELETE FROM trace_sessions t USING unnest($1::text[], $2::text[]) AS k(tn, s) WHERE t.tenant_id = k.tn AND t.session_id = k.s`,
    [sessions.map((s) => s.tenantId), sessions.map((s) => s.sessionId)],
  );
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A session state as the JSON row the upserts read (bigint tokens stay exact through exactJson). */
export function stateToRow(s: SessionState): Record<string, unknown> {
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
