import type { Pool, PoolClient } from 'pg';
import { compareIds, judgeSession, type EventMarks } from '@traceledger/core';
import { selectEntries, stateToRow } from './ledger/rows.js';
import { sessionRefKey, type SessionRef } from './ledger/tx.js';

/** One difference between what the ledger's rule says and what is stored. */
export interface Drift {
  /**
   * `session`: a trace_sessions row differs from the fold of its ledger events (or is missing or
   * extra); `marks`: a ledger row's staged/voided_by/replaced_by mark; `owner`: a session's owner;
   * `rollup`, `team-rollup`: an hourly bucket differs from trace_sessions; `models`: a row's
   * per-model usage does not add up to the row.
   */
  check: 'session' | 'marks' | 'owner' | 'rollup' | 'team-rollup' | 'models';
  tenantId: string;
  key: string;
  expected: string;
  actual: string;
}

export interface VerifyProgress {
  /** Sessions checked against the ledger so far, and how many there are (estimated at the start). */
  sessions: number;
  totalSessions: number;
  events: number;
}

export interface VerifyOptions {
  tenantId?: string;
  /** Sessions per round trip (memory is bounded by one chunk). */
  chunkSize?: number;
  onProgress?: (p: VerifyProgress) => void;
  /** Stop collecting after this many differences (they are still counted). */
  maxDrifts?: number;
}

/** What `verify` found. */
export interface VerifyResult {
  drifts: Drift[];
  /** Differences found, including any beyond `maxDrifts`. */
  driftCount: number;
  sessions: number;
  events: number;
  /**
   * Sessions with archived ledger months: their rows keep what the archived events contributed,
   * so they are not compared with what is left of their ledger (docs/scaling.md).
   */
  sealed: number;
}

/** The session columns compared, as text, in the order printed. */
const COMPARED = [
  'agent_id', 'agent_key_at', 'agent_key_event', 'team_id', 'team_key_at', 'team_key_event', 'started_event_at', 'first_event_at',
  'last_event_at', 'ended_at', 'end_event_id', 'status', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'reasoning_tokens',
  'cost', 'unpriced_events', 'unpriced_tokens', 'price_version', 'tool_calls', 'event_count', 'models',
] as const;

/**
 * Checks the whole chain in one consistent snapshot (REPEATABLE READ), streaming sessions in
 * chunks: every session recomputed from its ledger rows with the pure rule (`judgeSession`) and
 * compared with its trace_sessions row column by column, with the marks of its events and its
 * owner; then the hourly rollups (tenant and team) against trace_sessions, and each row's
 * per-model usage against the row. An empty `drifts` means everything agrees.
 */
export async function verifyLedger(pool: Pool, options: VerifyOptions = {}): Promise<VerifyResult> {
  const chunkSize = options.chunkSize ?? 1000;
  const max = options.maxDrifts ?? 1000;
  const drifts: Drift[] = [];
  let driftCount = 0;
  const add = (d: Drift): void => {
    driftCount++;
    if (drifts.length < max) drifts.push(d);
  };
  const tenant = options.tenantId ?? null;
  const client = await pool.connect();
  let sessions = 0;
  let events = 0;
  let sealed = 0;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: est } = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT tenant_id, session_id FROM ledger_sessions WHERE $1::text IS NULL OR tenant_id = $1
       UNION SELECT tenant_id, session_id FROM trace_sessions WHERE $1::text IS NULL OR tenant_id = $1) k`,
      [tenant],
    );
    const totalSessions = Number(est[0]?.n ?? 0);
    let after: SessionRef | null = null;
    for (;;) {
      const keys = await nextKeys(client, tenant, after, chunkSize);
      if (keys.length === 0) break;
      after = keys[keys.length - 1] as SessionRef;
      const result = await verifyChunk(client, keys, add);
      sessions += keys.length;
      events += result.events;
      sealed += result.sealed;
      options.onProgress?.({ sessions, totalSessions, events });
    }
    for (const d of await derivedDrifts(client, tenant)) add(d);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return { drifts, driftCount, sessions, events, sealed };
}

/** The next session keys in (tenant, session) byte order, from the ledger and from trace_sessions. */
async function nextKeys(client: PoolClient, tenant: string | null, after: SessionRef | null, limit: number): Promise<SessionRef[]> {
  const params: unknown[] = [tenant, limit];
  let cond = '';
  if (after !== null) {
    params.push(after.tenantId, after.sessionId);
    cond = ' AND (tenant_id COLLATE "C", session_id COLLATE "C") > ($3::text COLLATE "C", $4::text COLLATE "C")';
  }
  const { rows } = await client.query<{ tenant_id: string; session_id: string }>(
    `SELECT tenant_id, session_id FROM (
       (SELECT tenant_id COLLATE "C" AS tenant_id, session_id COLLATE "C" AS session_id FROM ledger_sessions
        WHERE ($1::text IS NULL OR tenant_id = $1)${cond} ORDER BY 1, 2 LIMIT $2)
       UNION
       (SELECT tenant_id COLLATE "C", session_id COLLATE "C" FROM trace_sessions
        WHERE ($1::text IS NULL OR tenant_id = $1)${cond} ORDER BY 1, 2 LIMIT $2)) k
     ORDER BY 1, 2 LIMIT $2`,
    params,
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
}

type SessionTextRow = Record<Exclude<(typeof COMPARED)[number], 'models'>, string | null> & { tenant_id: string; session_id: string };

async function verifyChunk(client: PoolClient, keys: readonly SessionRef[], add: (d: Drift) => void): Promise<{ events: number; sealed: number }> {
  const entries = await selectEntries(client, keys);
  const ids = [...new Set([...entries.values()].flatMap((l) => l.flatMap((e) => e.backfills)))];
  const { rows: bf } = await client.query<{ backfill_id: string; tenant_id: string; state: 'open' | 'closed' | 'reverted'; replace_mode: boolean; closed_seq: string | null }>(
    'SELECT backfill_id, tenant_id, state, replace_mode, closed_seq::text FROM backfills WHERE backfill_id = ANY($1::text[])',
    [ids],
  );
  const backfills = new Map(bf.map((r) => [r.backfill_id, { backfillId: r.backfill_id, tenantId: r.tenant_id, state: r.state, replace: r.replace_mode, closedSeq: r.closed_seq === null ? null : BigInt(r.closed_seq) }]));
  const cols = COMPARED.filter((c) => c !== 'models').map((c) => (c.endsWith('_at') ? `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${c}` : `${c}::text AS ${c}`));
  const { rows: stored } = await client.query<SessionTextRow>(
    `SELECT t.tenant_id, t.session_id, ${cols.join(', ')} FROM trace_sessions t
     JOIN unnest($1::text[], $2::text[]) AS k(tn, s) ON t.tenant_id = k.tn AND t.session_id = k.s`,
    [keys.map((k) => k.tenantId), keys.map((k) => k.sessionId)],
  );
  const byKey = new Map(stored.map((r) => [sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id }), { ...r, models: '' }]));
  // Per-model usage as exact text, straight from jsonb (a JS number would round past 2^53).
  const { rows: modelRows } = await client.query<{ tenant_id: string; session_id: string; model: string } & Record<(typeof MODEL_FIELDS)[number], string | null>>(
    `SELECT t.tenant_id, t.session_id, m.key AS model, ${MODEL_FIELDS.map((f) => `m.value ->> '${f}' AS ${f}`).join(', ')}
     FROM trace_sessions t JOIN unnest($1::text[], $2::text[]) AS k(tn, s) ON t.tenant_id = k.tn AND t.session_id = k.s
     CROSS JOIN LATERAL jsonb_each(t.models) AS m`,
    [keys.map((k) => k.tenantId), keys.map((k) => k.sessionId)],
  );
  const modelsOf = new Map<string, Record<string, Record<string, string>>>();
  for (const r of modelRows) {
    const k = sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id });
    const m = modelsOf.get(k) ?? {};
    m[r.model] = Object.fromEntries(MODEL_FIELDS.map((f) => [f, r[f] ?? '0']));
    modelsOf.set(k, m);
  }
  for (const [k, row] of byKey) row.models = canonicalModels(modelsOf.get(k) ?? {});
  const { rows: ownerRows } = await client.query<{ tenant_id: string; session_id: string; owner: string | null; archived: boolean }>(
    `SELECT tenant_id, session_id, owner, archived FROM ledger_sessions s JOIN unnest($1::text[], $2::text[]) AS k(tn, sid) ON s.tenant_id = k.tn AND s.session_id = k.sid`,
    [keys.map((k) => k.tenantId), keys.map((k) => k.sessionId)],
  );
  const owners = new Map(ownerRows.map((r) => [sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id }), r.owner]));
  const archived = new Set(ownerRows.filter((r) => r.archived).map((r) => sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id })));
  let events = 0;
  let sealed = 0;
  for (const k of keys) {
    const key = sessionRefKey(k);
    const list = entries.get(key) ?? [];
    events += list.length;
    if (archived.has(key)) {
      sealed++;
      continue;
    }
    const judged = judgeSession(list, (id) => backfills.get(id));
    const expected = judged.state === null ? null : expectedText(stateToRow(judged.state));
    const actual = byKey.get(key);
    const where = `session ${k.sessionId}`;
    if (expected === null && actual !== undefined) add({ check: 'session', tenantId: k.tenantId, key: where, expected: '(no row: nothing counts)', actual: rowText(actual) });
    else if (expected !== null && actual === undefined) add({ check: 'session', tenantId: k.tenantId, key: where, expected: rowText(expected), actual: '(no row)' });
    else if (expected !== null && actual !== undefined) {
      for (const c of COMPARED) {
        const e = expected[c];
        const a = actual[c];
        if (e !== a) add({ check: 'session', tenantId: k.tenantId, key: `${where} ${c}`, expected: String(e), actual: String(a) });
      }
    }
    for (const e of list) {
      const m = judged.marks.get(e.event.eventId) as EventMarks;
      if (m.staged !== e.marks.staged || m.voidedBy !== e.marks.voidedBy || m.replacedBy !== e.marks.replacedBy) {
        add({ check: 'marks', tenantId: k.tenantId, key: `event ${e.event.eventId} of ${where}`, expected: marksText(m), actual: marksText(e.marks) });
      }
    }
    if (list.length > 0 && (owners.get(key) ?? null) !== judged.owner) {
      add({ check: 'owner', tenantId: k.tenantId, key: where, expected: String(judged.owner), actual: String(owners.get(key) ?? null) });
    }
  }
  return { events, sealed };
}

function marksText(m: EventMarks): string {
  return `staged=${m.staged} voided_by=${m.voidedBy} replaced_by=${m.replacedBy}`;
}

/** The expected row in the text form the query above reads stored rows in. */
function expectedText(row: Record<string, unknown>): Record<(typeof COMPARED)[number], string | null> {
  const out = {} as Record<(typeof COMPARED)[number], string | null>;
  for (const c of COMPARED) {
    const v = row[c];
    if (c === 'status') out[c] = (v as string | null) ?? 'running';
    else if (c === 'cost') out[c] = v === null ? null : normaliseNumeric(String(v));
    else if (c === 'models') {
      const models = v as Record<string, Record<string, unknown>>;
      out[c] = canonicalModels(Object.fromEntries(Object.entries(models).map(([m, u]) => [m, Object.fromEntries(Object.entries(u).map(([f, x]) => [f, String(x)]))])));
    }
    else out[c] = v === null || v === undefined ? null : typeof v === 'string' ? v : String(v);
  }
  return out;
}

function rowText(r: Partial<Record<string, string | null>>): string {
  return COMPARED.filter((c) => c !== 'models').map((c) => `${c}=${r[c] ?? 'null'}`).join(' ');
}

/** Money as numeric(30,9) prints it. */
function normaliseNumeric(text: string): string {
  const [int = '0', frac = ''] = text.split('.');
  return `${int}.${frac.padEnd(9, '0')}`;
}

const MODEL_FIELDS = ['input', 'output', 'cached', 'reasoning', 'cost', 'events', 'unpriced', 'unpriced_tokens'] as const;

/** Per-model usage in one canonical text: models in byte order, every number as exact decimal text. */
function canonicalModels(models: Record<string, Record<string, string>>): string {
  return Object.keys(models)
    .sort(compareIds)
    .map((m) => {
      const u = models[m] ?? {};
      return `${JSON.stringify(m)}:{${MODEL_FIELDS.map((f) => `${f}:${f === 'cost' ? normaliseNumeric(u[f] ?? '0') : (u[f] ?? '0')}`).join(',')}}`;
    })
    .join(',');
}

const SUMS = `count(*) AS sessions, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost) AS cost,
  count(*) FILTER (WHERE unpriced_events > 0) AS unpriced_sessions, sum(unpriced_tokens) AS unpriced_tokens`;
const MEASURES = 'sessions, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, unpriced_sessions, unpriced_tokens';
const row = (alias: string): string => `row(${MEASURES.split(', ').map((m) => `${alias}.${m}`).join(', ')})`;
const NONZERO = `(sessions <> 0 OR input_tokens <> 0 OR output_tokens <> 0 OR cached_input_tokens <> 0 OR reasoning_tokens <> 0
  OR cost <> 0 OR unpriced_sessions <> 0 OR unpriced_tokens <> 0)`;

/** The rollups and per-model usage recomputed from trace_sessions, every difference listed. */
async function derivedDrifts(client: PoolClient, tenant: string | null): Promise<Drift[]> {
  const { rows: rollup } = await client.query<{ tenant_id: string; hour: Date; status: string; expected: string; actual: string }>(
    `WITH expected AS (
       SELECT tenant_id, date_trunc('hour', started_at, 'UTC') AS hour, status, ${SUMS}
       FROM trace_sessions WHERE $1::text IS NULL OR tenant_id = $1 GROUP BY 1, 2, 3),
     actual AS (SELECT tenant_id, hour, status, ${MEASURES} FROM session_rollup_hourly WHERE ($1::text IS NULL OR tenant_id = $1) AND ${NONZERO})
     SELECT coalesce(e.tenant_id, a.tenant_id) AS tenant_id, coalesce(e.hour, a.hour) AS hour, coalesce(e.status, a.status) AS status,
            ${row('e')}::text AS expected, ${row('a')}::text AS actual
     FROM expected e FULL JOIN actual a ON e.tenant_id = a.tenant_id AND e.hour = a.hour AND e.status = a.status
     WHERE ${row('e')} IS DISTINCT FROM ${row('a')}
     ORDER BY 1, 2, 3`,
    [tenant],
  );
  const { rows: teamRollup } = await client.query<{ tenant_id: string; team_id: string; hour: Date; status: string; expected: string; actual: string }>(
    `WITH expected AS (
       SELECT tenant_id, coalesce(team_id, '') AS team_id, date_trunc('hour', started_at, 'UTC') AS hour, status, ${SUMS}
       FROM trace_sessions WHERE $1::text IS NULL OR tenant_id = $1 GROUP BY 1, 2, 3, 4),
     actual AS (SELECT tenant_id, team_id, hour, status, ${MEASURES} FROM session_rollup_team_hourly WHERE ($1::text IS NULL OR tenant_id = $1) AND ${NONZERO})
     SELECT coalesce(e.tenant_id, a.tenant_id) AS tenant_id, coalesce(e.team_id, a.team_id) AS team_id,
            coalesce(e.hour, a.hour) AS hour, coalesce(e.status, a.status) AS status,
            ${row('e')}::text AS expected, ${row('a')}::text AS actual
     FROM expected e FULL JOIN actual a ON e.tenant_id = a.tenant_id AND e.team_id = a.team_id AND e.hour = a.hour AND e.status = a.status
     WHERE ${row('e')} IS DISTINCT FROM ${row('a')}
     ORDER BY 1, 2, 3, 4`,
    [tenant],
  );
  const perModel = `coalesce(sum((m.u ->> 'input')::numeric), 0), coalesce(sum((m.u ->> 'output')::numeric), 0),
    coalesce(sum((m.u ->> 'cached')::numeric), 0), coalesce(sum((m.u ->> 'reasoning')::numeric), 0),
    coalesce(sum((m.u ->> 'cost')::numeric), 0)::numeric(30, 9), coalesce(sum((m.u ->> 'unpriced')::numeric), 0),
    coalesce(sum((m.u ->> 'unpriced_tokens')::numeric), 0)`;
  const own = `s.input_tokens, s.output_tokens, s.cached_input_tokens, s.reasoning_tokens, s.cost, s.unpriced_events, s.unpriced_tokens`;
  const { rows: models } = await client.query<{ tenant_id: string; session_id: string; expected: string; actual: string }>(
    `SELECT s.tenant_id, s.session_id, row(${own})::text AS expected, row(${perModel})::text AS actual
     FROM trace_sessions s LEFT JOIN LATERAL jsonb_each(s.models) AS m(model, u) ON true
     WHERE $1::text IS NULL OR s.tenant_id = $1
     GROUP BY s.tenant_id, s.session_id, ${own}
     HAVING row(${own}) IS DISTINCT FROM row(${perModel})`,
    [tenant],
  );
  return [
    ...rollup.map((r) => ({ check: 'rollup' as const, tenantId: r.tenant_id, key: `${r.hour.toISOString()} ${r.status}`, expected: r.expected, actual: r.actual })),
    ...teamRollup.map((r) => ({ check: 'team-rollup' as const, tenantId: r.tenant_id, key: `${r.team_id} ${r.hour.toISOString()} ${r.status}`, expected: r.expected, actual: r.actual })),
    ...models.map((r) => ({ check: 'models' as const, tenantId: r.tenant_id, key: `session ${r.session_id}`, expected: r.expected, actual: r.actual })),
  ];
}
