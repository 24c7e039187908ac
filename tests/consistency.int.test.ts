import { describe, expect, it } from 'vitest';
import { formatMoney, normaliseDecimalText, parseMoney, type EndStatus, type TraceEvent } from '@traceledger/core';
import { applyEvents, verifyLedger } from '@traceledger/db';
import { buildQueryApp } from '@traceledger/query';
import { rawNumber } from './helpers/pipeline.js';
import { createTestDatabase, headerTenant, testLogger, uid } from './helpers/world.js';

// The invariant the product exists for: billing = analytics = a direct SQL sum over
// trace_sessions, for random ranges and zones, month boundaries and DST changes included.

const { pool } = await createTestDatabase();
const seed = Number(process.env['TL_SEED'] ?? Date.now() % 1_000_000);
let state = seed;
/** A small deterministic generator, so a failure can be replayed with TL_SEED. */
const rand = (): number => {
  state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
  return state / 2_147_483_648;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const TENANTS = [`inv-a-${uid()}`, `inv-b-${uid()}`];
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];
const START = Date.UTC(2026, 1, 20); // spans the March DST changes and three month ends
const SPAN_MS = 75 * 86_400_000;
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'mystery-model'];

function sessionEvents(tenantId: string, i: number): TraceEvent[] {
  const sessionId = `s-${i}`;
  const t0 = START + Math.floor(rand() * SPAN_MS);
  const base = { tenantId, sessionId, agentId: `agent-${Math.floor(rand() * 6)}`, teamId: rand() < 0.9 ? `team-${Math.floor(rand() * 3)}` : null };
  const blank = { provider: null, model: null, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, costNanos: null, status: null, error: null, toolName: null, durationMs: null, voidsEventId: null, reason: null };
  const events: TraceEvent[] = [{ ...blank, ...base, eventId: `${sessionId}-start`, type: 'session.started', occurredAtMs: t0 }];
  const uses = 1 + Math.floor(rand() * 3);
  for (let u = 0; u < uses; u++) {
    events.push({
      ...blank, ...base, eventId: `${sessionId}-u${u}`, type: 'llm.usage', occurredAtMs: t0 + 1000 * (u + 1), model: pick(MODELS),
      inputTokens: Math.floor(rand() * 50_000), outputTokens: Math.floor(rand() * 5000),
      costNanos: rand() < 0.85 ? BigInt(Math.floor(rand() * 3_000_000_000)) : null,
    });
  }
  if (rand() < 0.9) {
    events.push({ ...blank, ...base, eventId: `${sessionId}-end`, type: 'session.ended', occurredAtMs: t0 + 60_000, status: pick<EndStatus>(['success', 'success', 'error', 'timeout', 'cancelled']) });
  }
  if (rand() < 0.1) events.push({ ...blank, ...base, eventId: `${sessionId}-void`, type: 'event.voided', occurredAtMs: t0 + 90_000, voidsEventId: `${sessionId}-u0` });
  return events;
}

const all = TENANTS.flatMap((t) => Array.from({ length: 400 }, (_, i) => sessionEvents(t, i)).flat());
for (let i = 0; i < all.length; i += 500) await applyEvents(pool, all.slice(i, i + 500).map((event) => ({ event })));

const app = await buildQueryApp({ pool, logger: testLogger(), auth: headerTenant(), now: () => new Date(START + SPAN_MS) });
const get = (tenant: string, url: string) => app.inject({ method: 'GET', url, headers: { 'x-test-tenant': tenant } });

async function sqlSum(tenant: string, from: string | null, to: string | null, team: string | null = null): Promise<{ cost: string; sessions: number }> {
  const { rows } = await pool.query<{ cost: string | null; n: number }>(
    `SELECT sum(cost)::text AS cost, count(*)::int AS n FROM trace_sessions
     WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR started_at >= $2) AND ($3::timestamptz IS NULL OR started_at < $3)
       AND ($4::text IS NULL OR team_id = $4)`,
    [tenant, from, to, team],
  );
  return { cost: normaliseDecimalText(rows[0]?.cost ?? null), sessions: rows[0]?.n ?? 0 };
}

const decimalSum = (texts: string[]): string => formatMoney(texts.reduce((sum, t) => sum + parseMoney(t), 0n));

describe(`billing = analytics = SQL over trace_sessions (TL_SEED=${seed})`, () => {
  it('agree for random ranges and zones, including month ends and DST days', async () => {
    const localDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const cases: { tz: string; from: string; to: string }[] = [
      { tz: 'Europe/Berlin', from: '2026-03-29', to: '2026-03-30' }, // a 23-hour day
      { tz: 'America/New_York', from: '2026-03-08', to: '2026-03-09' },
      { tz: 'Australia/Lord_Howe', from: '2026-04-01', to: '2026-04-30' },
      { tz: 'Asia/Kolkata', from: '2026-03-01', to: '2026-04-01' }, // a month in a +05:30 zone
    ];
    for (let i = 0; i < 16; i++) {
      const a = START + Math.floor(rand() * SPAN_MS);
      const b = a + Math.floor(rand() * 40 * 86_400_000) + 3_600_000;
      cases.push(rand() < 0.5 ? { tz: pick(ZONES), from: localDate(a), to: localDate(b + 86_400_000) } : { tz: pick(ZONES), from: new Date(a).toISOString(), to: new Date(b).toISOString() });
    }
    for (const c of cases) {
      for (const tenant of TENANTS) {
        const qs = `from=${encodeURIComponent(c.from)}&to=${encodeURIComponent(c.to)}&tz=${encodeURIComponent(c.tz)}`;
        const billing = await get(tenant, `/api/billing/summary?${qs}`);
        const platform = await get(tenant, `/api/analytics/platform?${qs}`);
        expect(billing.statusCode, billing.body).toBe(200);
        expect(platform.statusCode, platform.body).toBe(200);
        const { from, to } = platform.json().data as { from: string; to: string };
        const sql = await sqlSum(tenant, from, to);
        const label = `${tenant} ${JSON.stringify(c)}`;
        expect(rawNumber(billing.body, 'totalCost'), label).toBe(sql.cost);
        expect(rawNumber(platform.body, 'totalCost'), label).toBe(sql.cost);
        expect(platform.json().data.totalSessions, label).toBe(sql.sessions);
        // A team's totals come from the team rollup plus exact edges: the same sum.
        const team = await get(tenant, `/api/analytics/teams/team-1?${qs}`);
        const teamSql = await sqlSum(tenant, from, to, 'team-1');
        expect(rawNumber(team.body, 'totalCost'), `${label} team-1`).toBe(teamSql.cost);
        expect(team.json().data.totalSessions, `${label} team-1`).toBe(teamSql.sessions);

        // The same range as a daily series, and as breakdowns, adds up to the same total.
        const days = await get(tenant, `/api/analytics/usage?${qs}&bucket=day&format=ndjson`);
        expect(days.statusCode, days.body).toBe(200);
        const dayRows = days.body.trim().split('\n').filter(Boolean);
        expect(decimalSum(dayRows.map((l) => rawNumber(l, 'cost'))), label).toBe(sql.cost);
        for (const by of ['team', 'agent', 'model']) {
          const br = await get(tenant, `/api/billing/breakdown?by=${by}&${qs}&format=ndjson`);
          const costs = br.body.trim().split('\n').filter(Boolean).map((l) => rawNumber(l, 'cost'));
          expect(decimalSum(costs), `${label} by ${by}`).toBe(sql.cost);
        }
      }
    }
  });

  it('agree over all time, and the rollups and per-model usage have not drifted', async () => {
    for (const tenant of TENANTS) {
      const billing = await get(tenant, '/api/billing/summary');
      const platform = await get(tenant, '/api/analytics/platform?period=all');
      const sql = await sqlSum(tenant, null, null);
      expect(rawNumber(billing.body, 'totalCost')).toBe(sql.cost);
      expect(rawNumber(platform.body, 'totalCost')).toBe(sql.cost);
    }
    expect((await verifyLedger(pool)).drifts).toEqual([]);
  });

  it('verify reports a rollup that no longer matches trace_sessions', async () => {
    const tenant = TENANTS[0] as string;
    await pool.query(
      `UPDATE session_rollup_hourly SET cost = cost + 0.000000001
       WHERE ctid = (SELECT ctid FROM session_rollup_hourly WHERE tenant_id = $1 AND sessions > 0 ORDER BY hour, status LIMIT 1)`,
      [tenant],
    );
    const { drifts: drift } = await verifyLedger(pool, { tenantId: tenant });
    expect(drift).toHaveLength(1);
    expect(drift[0]).toMatchObject({ check: 'rollup', tenantId: tenant });
  });
});
