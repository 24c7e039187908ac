import { describe, expect, it } from 'vitest';
import { traceEvent } from '@traceledger/core';
import { applyEvents, verifyLedger } from '@traceledger/db';
import { buildQueryApp } from '@traceledger/query';
import { rawNumber } from './helpers/pipeline.js';
import { createTestDatabase, headerTenant, testLogger, uid } from './helpers/world.js';

// Token counts at the contract's bound (10^12 per kind per event) add up past 2^53 in one session
// and past 2^63 in one tenant's hour, and every answer prints them digit for digit: sums never
// pass through a JS float, and no column overflows (docs/contract.md, "Bounds").

const { pool } = await createTestDatabase();
const app = await buildQueryApp({ pool, logger: testLogger(), auth: headerTenant() });
const MAX = 1_000_000_000_000;
const T = Date.now() - 3_600_000;

describe('token sums at the bounds', () => {
  it('answers 10,000 events of 10^12 tokens in one session exactly (10^16 > 2^53), and billing equals analytics', async () => {
    const tenant = `b-${uid()}`;
    const events = Array.from({ length: 10_000 }, (_, i) => ({
      event: traceEvent({ eventId: `e${i}`, tenantId: tenant, sessionId: 's', agentId: 'a', type: 'llm.usage', occurredAtMs: T, inputTokens: MAX, outputTokens: MAX - 1, costNanos: 1n }),
    }));
    for (let i = 0; i < events.length; i += 2500) await applyEvents(pool, events.slice(i, i + 2500));
    const headers = { 'x-test-tenant': tenant };
    const analytics = (await app.inject({ url: '/api/analytics/platform?period=all', headers })).body;
    expect(rawNumber(analytics, 'totalInputTokens')).toBe('10000000000000000');
    expect(rawNumber(analytics, 'totalOutputTokens')).toBe('9999999999990000');
    const billing = (await app.inject({ url: '/api/billing/summary', headers })).body;
    expect(rawNumber(billing, 'totalTokens')).toBe('19999999999990000');
    expect(rawNumber(billing, 'totalCost')).toBe(rawNumber(analytics, 'totalCost'));
    const usage = (await app.inject({ url: `/api/analytics/usage?bucket=day&groupBy=model&from=${new Date(T - 86_400_000).toISOString()}&to=${new Date(T + 86_400_000).toISOString()}`, headers })).body;
    expect(rawNumber(usage, 'inputTokens')).toBe('10000000000000000');
    expect((await verifyLedger(pool, { tenantId: tenant })).drifts).toEqual([]);
  });

  it('answers a tenant hour past 2^63 - 1 tokens exactly', async () => {
    const tenant = `b-${uid()}`;
    await applyEvents(pool, [{ event: traceEvent({ eventId: 'x', tenantId: tenant, sessionId: 's1', agentId: 'a', type: 'llm.usage', occurredAtMs: T, inputTokens: MAX }) }]);
    // As if 9.2 million events of 10^12 had come for s1 (writing them would take minutes).
    await pool.query("UPDATE trace_sessions SET input_tokens = 9223372036854775807 WHERE tenant_id = $1 AND session_id = 's1'", [tenant]);
    await applyEvents(pool, [{ event: traceEvent({ eventId: 'y', tenantId: tenant, sessionId: 's2', agentId: 'a', type: 'llm.usage', occurredAtMs: T, inputTokens: MAX }) }]);
    const analytics = (await app.inject({ url: '/api/analytics/platform?period=all', headers: { 'x-test-tenant': tenant } })).body;
    expect(rawNumber(analytics, 'totalInputTokens')).toBe('9223373036854775807');
  });
});

describe('per-model usage of a session is bounded', () => {
  it('keeps the 100 smallest model names and sums the rest under "(other models)", the same whatever the batches', async () => {
    const tenant = `b-${uid()}`;
    const events = Array.from({ length: 150 }, (_, i) => ({
      event: traceEvent({ eventId: `e${i}`, tenantId: tenant, sessionId: 's', agentId: 'a', type: 'llm.usage', occurredAtMs: T, model: `model-${String((i * 37) % 150).padStart(3, '0')}`, inputTokens: 1000 + i, costNanos: BigInt(i) }),
    }));
    // Seven batches merged by the SQL upsert (tl_merge_models); verify recomputes with the fold in code.
    for (let i = 0; i < events.length; i += 22) await applyEvents(pool, events.slice(i, i + 22));
    const { rows } = await pool.query<{ n: number; other_events: string; input: string }>(
      `SELECT (SELECT count(*)::int FROM jsonb_object_keys(models)) AS n, models -> '(other models)' ->> 'events' AS other_events,
              (SELECT sum((v ->> 'input')::numeric)::text FROM jsonb_each(models) AS m(k, v)) AS input
       FROM trace_sessions WHERE tenant_id = $1`,
      [tenant],
    );
    expect(rows[0]).toEqual({ n: 101, other_events: '50', input: String(150 * 1000 + (149 * 150) / 2) });
    const { rows: kept } = await pool.query("SELECT max(k) AS last FROM trace_sessions, jsonb_object_keys(models) k WHERE tenant_id = $1 AND k <> '(other models)'", [tenant]);
    expect(kept[0]).toEqual({ last: 'model-099' });
    expect((await verifyLedger(pool, { tenantId: tenant })).drifts).toEqual([]);
  });
});
