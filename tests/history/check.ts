import type { ActualLedger, ActualSession, ApiTotals } from './actual.js';
import { decimalText, tenantTotals, type Expected, type ExpectedSession } from './model.js';

/** One thing the run found wrong: which check, and what. */
export interface Finding {
  check: string;
  message: string;
}

export const SESSION_FIELDS = [
  'eventCount',
  'toolCalls',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'reasoningTokens',
  'costNanos',
  'unpricedEvents',
  'unpricedTokens',
  'status',
  'agentId',
  'teamId',
  'startedAtMs',
  'endedAtMs',
] as const;
type Field = (typeof SESSION_FIELDS)[number];
/** Fields a price difference alone moves. */
const PRICE_FIELDS: ReadonlySet<Field> = new Set(['costNanos', 'unpricedEvents', 'unpricedTokens']);

const show = (v: unknown): string => (v === null || v === undefined ? 'null' : typeof v === 'bigint' ? v.toString() : String(v));
const showField = (f: Field, v: unknown): string => (f === 'costNanos' && typeof v === 'bigint' ? decimalText(v) : f.endsWith('AtMs') && typeof v === 'number' ? new Date(v).toISOString() : show(v));

export interface SessionDiff {
  key: string;
  fields: Field[];
  expected: ExpectedSession | null;
  actual: ActualSession | null;
}

/** Every session whose row differs from the model's (a missing or extra row differs in every field). */
export function diffSessions(expected: Expected, actual: ReadonlyMap<string, ActualSession>): SessionDiff[] {
  const keys = [...new Set([...expected.sessions.keys(), ...actual.keys()])].sort();
  const diffs: SessionDiff[] = [];
  for (const k of keys) {
    const e = expected.sessions.get(k) ?? null;
    const a = actual.get(k) ?? null;
    if (e === null || a === null) {
      diffs.push({ key: k, fields: [...SESSION_FIELDS], expected: e, actual: a });
      continue;
    }
    const fields = SESSION_FIELDS.filter((f) => show(e[f]) !== show(a[f]));
    if (fields.length > 0) diffs.push({ key: k, fields, expected: e, actual: a });
  }
  return diffs;
}

/** Model and actual side by side, one line per field (differing ones marked). */
export function describeSession(d: SessionDiff): string {
  const [tenant, sessionId] = d.key.split('\u0000');
  const lines = [`  session ${sessionId} of ${tenant}: ${d.expected === null ? 'the model has NO row' : d.actual === null ? 'trace_sessions has NO row' : `${d.fields.length} field(s) differ`}`];
  for (const f of SESSION_FIELDS) {
    const e = d.expected === null ? '—' : showField(f, d.expected[f]);
    const a = d.actual === null ? '—' : showField(f, d.actual[f]);
    lines.push(`    ${d.fields.includes(f) && d.expected !== null && d.actual !== null ? '≠' : ' '} ${f.padEnd(18)} model ${e.padEnd(26)} actual ${a}`);
  }
  return lines.join('\n');
}

/** The model's ledger rows of a session next to the actual ones. */
export function describeLedgerOfSession(sessionKey: string, expected: Expected, actual: ActualLedger): string {
  const [tenant, sessionId] = sessionKey.split('\u0000');
  const ids = new Set<string>();
  for (const r of expected.ledger.values()) if (r.tenant === tenant && r.sessionId === sessionId) ids.add(r.eventId);
  for (const r of actual.rows.values()) if (r.tenant === tenant && r.sessionId === sessionId) ids.add(r.eventId);
  const lines = [`  ledger rows of ${sessionId} (owner: model ${show(expected.owners.get(sessionKey) ?? null)}, actual ${actual.owners === null ? 'n/a' : show(actual.owners.get(sessionKey) ?? null)}):`];
  for (const id of [...ids].sort()) {
    const e = expected.ledger.get(`${tenant}\u0000${id}`);
    const a = actual.rows.get(`${tenant}\u0000${id}`);
    const model = e === undefined ? 'absent' : `${e.type} ${e.live ? 'live' : ''}${e.backfills.length ? ` bf=${e.backfills.join(',')}` : ''} ${e.counts ? 'COUNTS' : `not counting (${e.staged ? 'staged ' : ''}${e.voidedBy ? `voided by ${e.voidedBy} ` : ''}${e.replacedBy ? `replaced by ${e.replacedBy}` : ''}${e.type === 'event.voided' ? 'void' : ''})`}`;
    const act =
      a === undefined
        ? 'absent'
        : `${a.type}${a.live === undefined ? '' : a.live ? ' live' : ''}${a.staged ? ' staged' : ''}${a.voidedBy ? ` voided_by=${a.voidedBy}` : ''}${a.replacedBy ? ` replaced_by=${a.replacedBy}` : ''}${actual.memberships?.get(`${tenant}\u0000${id}`)?.length ? ` bf=${actual.memberships.get(`${tenant}\u0000${id}`)?.join(',')}` : ''}`;
    lines.push(`    ${id.padEnd(34)} model: ${model.trim().padEnd(52)} actual: ${act}`);
  }
  return lines.join('\n');
}

/** Sessions: a finding per kind of difference, with counts per field. */
export function sessionFindings(diffs: readonly SessionDiff[]): Finding[] {
  if (diffs.length === 0) return [];
  const perField = new Map<Field, number>();
  for (const d of diffs) for (const f of d.fields) perField.set(f, (perField.get(f) ?? 0) + 1);
  const missing = diffs.filter((d) => d.actual === null).length;
  const extra = diffs.filter((d) => d.expected === null).length;
  const priceOnly = diffs.filter((d) => d.expected !== null && d.actual !== null && d.fields.every((f) => PRICE_FIELDS.has(f))).length;
  return [
    {
      check: 'sessions',
      message:
        `${diffs.length} session(s) differ from the model (${missing} row(s) missing, ${extra} row(s) that should not exist, ${priceOnly} differing only in cost/unpriced); ` +
        `per field: ${[...perField].map(([f, n]) => `${f} ${n}`).join(', ')}`,
    },
  ];
}

/** The first differing session, and the first whose difference is not only its price. */
export function firstDiffs(diffs: readonly SessionDiff[]): SessionDiff[] {
  const first = diffs[0];
  if (first === undefined) return [];
  const notPrice = diffs.find((d) => d.expected === null || d.actual === null || d.fields.some((f) => !PRICE_FIELDS.has(f)));
  return notPrice !== undefined && notPrice !== first ? [first, notPrice] : [first];
}

/** Ledger ids: nothing acknowledged missing, nothing extra; ids and content of rows as the model says. */
export function ledgerFindings(expected: Expected, actual: ActualLedger, everSent: ReadonlySet<string>): Finding[] {
  const findings: Finding[] = [];
  const missing = [...expected.ledger.keys()].filter((k) => !actual.rows.has(k));
  const extra = [...actual.rows.keys()].filter((k) => !expected.ledger.has(k));
  const name = (k: string) => k.replace('\u0000', '/');
  if (missing.length > 0) findings.push({ check: 'ledger', message: `${missing.length} event(s) that must be in applied_events are not: ${missing.slice(0, 8).map(name).join(', ')}` });
  const never = extra.filter((k) => !everSent.has(k));
  const gone = extra.filter((k) => everSent.has(k));
  if (never.length > 0) findings.push({ check: 'ledger', message: `${never.length} event(s) in applied_events were never sent: ${never.slice(0, 8).map(name).join(', ')}` });
  if (gone.length > 0) findings.push({ check: 'ledger', message: `${gone.length} event(s) in applied_events must not be there (reverted-backfill only, refused, or rejected): ${gone.slice(0, 8).map(name).join(', ')}` });
  const wrong = [...expected.ledger.values()].filter((e) => {
    const a = actual.rows.get(`${e.tenant}\u0000${e.eventId}`);
    return a !== undefined && (a.sessionId !== e.sessionId || a.type !== e.type);
  });
  if (wrong.length > 0) findings.push({ check: 'ledger', message: `${wrong.length} ledger row(s) with another session or type than the event's first content: ${wrong.slice(0, 5).map((e) => e.eventId).join(', ')}` });
  return findings;
}

/** staged / voided_by / replaced_by / owner / memberships, where the schema has them. */
export function markFindings(expected: Expected, actual: ActualLedger): Finding[] {
  const findings: Finding[] = [];
  if (actual.missing.length > 0) findings.push({ check: 'ledger marks', message: `the schema lacks ${actual.missing.join(', ')} (docs/architecture.md names them); those marks are not checked` });
  const bad: Record<string, string[]> = { staged: [], voided_by: [], replaced_by: [], memberships: [] };
  for (const e of expected.ledger.values()) {
    const k = `${e.tenant}\u0000${e.eventId}`;
    const a = actual.rows.get(k);
    if (a === undefined) continue;
    if (a.staged !== undefined && a.staged !== e.staged) bad['staged']?.push(`${e.eventId} (model ${e.staged}, actual ${a.staged})`);
    if (a.voidedBy !== undefined && a.voidedBy !== e.voidedBy) bad['voided_by']?.push(`${e.eventId} (model ${e.voidedBy}, actual ${a.voidedBy})`);
    if (a.replacedBy !== undefined && a.replacedBy !== e.replacedBy) bad['replaced_by']?.push(`${e.eventId} (model ${e.replacedBy}, actual ${a.replacedBy})`);
    if (actual.memberships !== null) {
      const m = actual.memberships.get(k) ?? [];
      if (m.join(',') !== e.backfills.join(',')) bad['memberships']?.push(`${e.eventId} (model [${e.backfills.join(',')}], actual [${m.join(',')}])`);
    }
  }
  for (const [mark, list] of Object.entries(bad)) {
    if (list.length > 0) findings.push({ check: 'ledger marks', message: `${list.length} ledger row(s) with a wrong ${mark}: ${list.slice(0, 4).join('; ')}` });
  }
  if (actual.owners !== null) {
    const wrong = [...expected.owners].filter(([k, o]) => (actual.owners?.get(k) ?? null) !== o);
    if (wrong.length > 0) findings.push({ check: 'ledger marks', message: `${wrong.length} session(s) with a wrong ledger_sessions.owner: ${wrong.slice(0, 4).map(([k, o]) => `${k.split('\u0000')[1]} (model ${o}, actual ${actual.owners?.get(k) ?? null})`).join('; ')}` });
  }
  return findings;
}

/** Per tenant: model totals = SQL sums = billing summary = platform analytics. */
export function totalsFindings(
  expected: Expected,
  tenants: readonly string[],
  sql: ReadonlyMap<string, { sessions: bigint; costNanos: bigint; inputTokens: bigint; outputTokens: bigint }>,
  api: ReadonlyMap<string, ApiTotals>,
): Finding[] {
  const findings: Finding[] = [];
  for (const tenant of tenants) {
    const m = tenantTotals(expected.sessions.values(), tenant);
    const s = sql.get(tenant) ?? { sessions: 0n, costNanos: 0n, inputTokens: 0n, outputTokens: 0n };
    const a = api.get(tenant);
    const rows: [string, bigint, bigint | undefined][] = [
      ['sql sessions', m.sessions, s.sessions],
      ['sql cost', m.costNanos, s.costNanos],
      ['sql input tokens', m.inputTokens, s.inputTokens],
      ['sql output tokens', m.outputTokens, s.outputTokens],
      ['billing totalCost', m.costNanos, a?.billing.totalCost],
      ['billing totalTokens', m.totalTokens, a?.billing.totalTokens],
      ['platform totalSessions', m.sessions, a?.platform.totalSessions],
      ['platform totalCost', m.costNanos, a?.platform.totalCost],
      ['platform totalInputTokens', m.inputTokens, a?.platform.totalInputTokens],
      ['platform totalOutputTokens', m.outputTokens, a?.platform.totalOutputTokens],
      ['platform unpricedSessions', m.unpricedSessions, a?.platform.unpricedSessions],
      ['platform unpricedTokens', m.unpricedTokens, a?.platform.unpricedTokens],
      ...Object.entries(m.statusCounts).map(([st, n]): [string, bigint, bigint | undefined] => [`platform statusCounts.${st}`, n, a?.platform.statusCounts[st]]),
    ];
    const off = rows.filter(([, e, v]) => v !== e).map(([n, e, v]) => `${n}: model ${n.includes('Cost') || n.includes('cost') ? decimalText(e) : e} vs ${v === undefined ? 'n/a' : n.includes('Cost') || n.includes('cost') ? decimalText(v) : v}`);
    if (off.length > 0) findings.push({ check: 'tenant totals', message: `${tenant}: ${off.join('; ')}` });
    if (a !== undefined && (a.billing.totalCost !== a.platform.totalCost || a.billing.totalTokens !== a.platform.totalInputTokens + a.platform.totalOutputTokens)) {
      findings.push({ check: 'tenant totals', message: `${tenant}: billing and analytics disagree with each other (${decimalText(a.billing.totalCost)} vs ${decimalText(a.platform.totalCost)})` });
    }
  }
  return findings;
}
