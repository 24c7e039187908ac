import type { FastifyInstance } from 'fastify';
import { EventCodec } from '@traceledger/contract';
import type { Pool } from '@traceledger/db';
import type { KafkaPort } from '@traceledger/kafka';
import { key, nanos, type ExpectedSession } from './model.js';

/** A trace_sessions row, numbers as exact integers (cost in nano-units): the shape the model computes. */
export type ActualSession = ExpectedSession;

export async function readSessions(pool: Pool): Promise<Map<string, ActualSession>> {
  const { rows } = await pool.query<Record<string, string | null>>(
    `SELECT tenant_id, session_id, agent_id, team_id, status,
            (extract(epoch FROM started_at) * 1000)::bigint::text AS started_ms,
            (extract(epoch FROM ended_at) * 1000)::bigint::text AS ended_ms,
            event_count::text, tool_calls::text, input_tokens::text, output_tokens::text,
            cached_input_tokens::text, reasoning_tokens::text, cost::text, unpriced_events::text, unpriced_tokens::text
     FROM trace_sessions`,
  );
  const big = (v: string | null | undefined) => BigInt(v ?? '0');
  return new Map(
    rows.map((r) => [
      key(r['tenant_id'] as string, r['session_id'] as string),
      {
        tenant: r['tenant_id'] as string,
        sessionId: r['session_id'] as string,
        agentId: r['agent_id'] ?? null,
        teamId: r['team_id'] ?? null,
        startedAtMs: Number(r['started_ms']),
        endedAtMs: r['ended_ms'] === null ? null : Number(r['ended_ms']),
        status: r['status'] as string,
        eventCount: big(r['event_count']),
        toolCalls: big(r['tool_calls']),
        inputTokens: big(r['input_tokens']),
        outputTokens: big(r['output_tokens']),
        cachedInputTokens: big(r['cached_input_tokens']),
        reasoningTokens: big(r['reasoning_tokens']),
        costNanos: nanos(r['cost'] as string),
        unpricedEvents: big(r['unpriced_events']),
        unpricedTokens: big(r['unpriced_tokens']),
      },
    ]),
  );
}

/** A ledger row, with the marks the spec names where the schema has them. */
export interface ActualLedgerRow {
  tenant: string;
  eventId: string;
  sessionId: string;
  type: string;
  staged?: boolean;
  voidedBy?: string | null;
  replacedBy?: string | null;
  live?: boolean;
}

export interface ActualLedger {
  rows: Map<string, ActualLedgerRow>;
  /** Columns / tables of the spec this schema lacks (the checks that need them are skipped and reported). */
  missing: string[];
  /** Backfill memberships (backfill_events), when the table exists: key → sorted backfill ids. */
  memberships: Map<string, string[]> | null;
  /** ledger_sessions.owner, when the table exists: session key → owner. */
  owners: Map<string, string | null> | null;
}

export async function readLedger(pool: Pool): Promise<ActualLedger> {
  const { rows: cols } = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name IN ('applied_events', 'backfill_events', 'ledger_sessions')`,
  );
  const has = (t: string, c: string) => cols.some((x) => x.table_name === t && x.column_name === c);
  const optional = ['staged', 'voided_by', 'replaced_by', 'live'].filter((c) => has('applied_events', c));
  const missing = ['staged', 'voided_by', 'replaced_by'].filter((c) => !has('applied_events', c)).map((c) => `applied_events.${c}`);
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT tenant_id, event_id, session_id, type${optional.map((c) => `, ${c}`).join('')} FROM applied_events`,
  );
  const ledger = new Map<string, ActualLedgerRow>();
  for (const r of rows) {
    const row: ActualLedgerRow = { tenant: r['tenant_id'] as string, eventId: r['event_id'] as string, sessionId: r['session_id'] as string, type: r['type'] as string };
    if (optional.includes('staged')) row.staged = r['staged'] as boolean;
    if (optional.includes('voided_by')) row.voidedBy = (r['voided_by'] as string | null) ?? null;
    if (optional.includes('replaced_by')) row.replacedBy = (r['replaced_by'] as string | null) ?? null;
    if (optional.includes('live')) row.live = r['live'] as boolean;
    ledger.set(key(row.tenant, row.eventId), row);
  }
  let memberships: Map<string, string[]> | null = null;
  if (has('backfill_events', 'backfill_id')) {
    memberships = new Map();
    const { rows: m } = await pool.query<{ tenant_id: string; event_id: string; backfill_id: string }>('SELECT tenant_id, event_id, backfill_id FROM backfill_events ORDER BY backfill_id');
    for (const x of m) {
      const k = key(x.tenant_id, x.event_id);
      memberships.set(k, [...(memberships.get(k) ?? []), x.backfill_id]);
    }
  } else {
    missing.push('backfill_events');
  }
  let owners: Map<string, string | null> | null = null;
  if (has('ledger_sessions', 'owner')) {
    const { rows: o } = await pool.query<{ tenant_id: string; session_id: string; owner: string | null }>('SELECT tenant_id, session_id, owner FROM ledger_sessions');
    owners = new Map(o.map((x) => [key(x.tenant_id, x.session_id), x.owner]));
  } else {
    missing.push('ledger_sessions.owner');
  }
  return { rows: ledger, missing, memberships, owners };
}

/** Per-tenant sums straight from trace_sessions. */
export async function readSqlTotals(pool: Pool): Promise<Map<string, { sessions: bigint; costNanos: bigint; inputTokens: bigint; outputTokens: bigint }>> {
  const { rows } = await pool.query<{ tenant_id: string; sessions: string; cost: string; input: string; output: string }>(
    `SELECT tenant_id, count(*)::text AS sessions, coalesce(sum(cost), 0)::text AS cost,
            coalesce(sum(input_tokens), 0)::text AS input, coalesce(sum(output_tokens), 0)::text AS output
     FROM trace_sessions GROUP BY tenant_id`,
  );
  return new Map(rows.map((r) => [r.tenant_id, { sessions: BigInt(r.sessions), costNanos: nanos(r.cost), inputTokens: BigInt(r.input), outputTokens: BigInt(r.output) }]));
}

/** The text of a JSON number in a response body, digit for digit (JSON.parse would round it). */
export function rawNumber(body: string, name: string): string {
  const m = new RegExp(`"${name}":(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)`).exec(body);
  if (!m?.[1]) throw new Error(`no number "${name}" in ${body.slice(0, 300)}`);
  return m[1];
}

export interface ApiTotals {
  billing: { totalCost: bigint; totalTokens: bigint };
  platform: {
    totalSessions: bigint;
    totalCost: bigint;
    totalInputTokens: bigint;
    totalOutputTokens: bigint;
    unpricedSessions: bigint;
    unpricedTokens: bigint;
    statusCounts: Record<string, bigint>;
  };
}

/** Billing summary and platform analytics over all time, as one tenant's query key sees them. */
export async function readApi(query: FastifyInstance, queryKey: string): Promise<ApiTotals> {
  const headers = { authorization: `Bearer ${queryKey}` };
  const b = await query.inject({ method: 'GET', url: '/api/billing/summary', headers });
  if (b.statusCode !== 200) throw new Error(`GET /api/billing/summary: ${b.statusCode} ${b.body.slice(0, 300)}`);
  const p = await query.inject({ method: 'GET', url: '/api/analytics/platform?period=all', headers });
  if (p.statusCode !== 200) throw new Error(`GET /api/analytics/platform: ${p.statusCode} ${p.body.slice(0, 300)}`);
  const counts = (JSON.parse(p.body) as { data: { statusCounts: Record<string, number> } }).data.statusCounts;
  return {
    billing: { totalCost: nanos(rawNumber(b.body, 'totalCost')), totalTokens: BigInt(rawNumber(b.body, 'totalTokens')) },
    platform: {
      totalSessions: BigInt(rawNumber(p.body, 'totalSessions')),
      totalCost: nanos(rawNumber(p.body, 'totalCost')),
      totalInputTokens: BigInt(rawNumber(p.body, 'totalInputTokens')),
      totalOutputTokens: BigInt(rawNumber(p.body, 'totalOutputTokens')),
      unpricedSessions: BigInt(rawNumber(p.body, 'unpricedSessions')),
      unpricedTokens: BigInt(rawNumber(p.body, 'unpricedTokens')),
      statusCounts: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, BigInt(v)])),
    },
  };
}

/** Dead letters: the event id each one's original bytes carry (null if unreadable) and its code. */
export async function readDeadLetters(kafka: KafkaPort, topic: string): Promise<{ eventId: string | null; tenant: string | null; code: string }[]> {
  const codec = EventCodec.fromDirectory();
  const records = await kafka.readTopic(topic, { timeoutMs: 20_000 });
  return records.map((r) => {
    let eventId: string | null = null;
    let tenant: string | null = null;
    try {
      if (r.value !== null) {
        const { event } = codec.decode(r.value);
        eventId = event.eventId;
        tenant = event.tenantId;
      }
    } catch {
      // not an event we can read: no id
    }
    return { eventId, tenant, code: r.headers['tl-dlq-code'] ?? '?' };
  });
}
