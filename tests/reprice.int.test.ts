import { describe, expect, it } from 'vitest';
import { PriceBook, type PriceEntry, type TraceEvent } from '@traceledger/core';
import { applyEvents, fixedPricing, reprice, verifyLedger } from '@traceledger/db';
import { buildQueryApp } from '@traceledger/query';
import { rawNumber } from './helpers/pipeline.js';
import { createTestDatabase, headerTenant, testLogger, uid } from './helpers/world.js';

const { pool } = await createTestDatabase();
const tenant = `rp-${uid()}`;
const other = `rp-other-${uid()}`;
const T = Date.UTC(2026, 9, 15, 12);
const entry = (model: string, input: bigint, output: bigint, version: string): PriceEntry => ({
  version, provider: null, model, effectiveFromMs: Date.UTC(2024, 0, 1), inputPerMillion: input, outputPerMillion: output,
  cachedInputPerMillion: input, reasoningPerMillion: output,
});
// v1: gpt-4o-mini at 0.15 / 0.60 per million; no price for "house-model".
const v1 = new PriceBook([entry('gpt-4o-mini', 150_000_000n, 600_000_000n, 'v1')]);
const usage = (tenantId: string, id: string, session: string, over: Partial<TraceEvent>): TraceEvent => ({
  eventId: id, tenantId, sessionId: session, agentId: 'agent', teamId: null, type: 'llm.usage', occurredAtMs: T, provider: null,
  model: 'gpt-4o-mini', inputTokens: 1_000_000, outputTokens: 100_000, cachedInputTokens: 0, reasoningTokens: 0, costNanos: null,
  status: null, error: null, toolName: null, durationMs: null, voidsEventId: null, reason: null, ...over,
});
await applyEvents(
  pool,
  [
    usage(tenant, 'book', 's1', {}), // 0.15 + 0.06 = 0.21 from v1
    usage(tenant, 'reported', 's1', { costNanos: 5_000_000_000n }), // reported 5: never re-priced
    usage(tenant, 'house', 's2', { model: 'house-model' }), // unpriced under v1
    usage(tenant, 'outside', 's3', { occurredAtMs: T - 40 * 86_400_000 }), // outside the range
    usage(other, 'book', 's1', {}), // another tenant
  ].map((event) => ({ event })),
  fixedPricing((e) => v1.price(e)),
);
const app = await buildQueryApp({ pool, logger: testLogger(), auth: headerTenant() });
const summary = async () => {
  const billing = await app.inject({ url: '/api/billing/summary', headers: { 'x-test-tenant': tenant } });
  const analytics = await app.inject({ url: '/api/analytics/platform?period=all', headers: { 'x-test-tenant': tenant } });
  expect(rawNumber(billing.body, 'totalCost')).toBe(rawNumber(analytics.body, 'totalCost'));
  return { cost: rawNumber(billing.body, 'totalCost'), unpriced: analytics.json().data.unpricedSessions as number };
};
const ledger = async () =>
  (await pool.query('SELECT tenant_id, event_id, cost::text, cost_source, price_version FROM applied_events ORDER BY tenant_id, event_id')).rows;

// v2: gpt-4o-mini doubles, and house-model gets a price (1 per million in, 2 out).
const v2 = new PriceBook([
  entry('gpt-4o-mini', 150_000_000n, 600_000_000n, 'v1'),
  entry('gpt-4o-mini', 300_000_000n, 1_200_000_000n, 'v2'),
  entry('house-model', 1_000_000_000n, 2_000_000_000n, 'v2'),
]);
const range = { from: new Date(T - 86_400_000), to: new Date(T + 86_400_000) };

describe('reprice', () => {
  it('prints the difference per tenant and model on a dry run and changes nothing', async () => {
    const before = { ledger: await ledger(), summary: await summary() };
    expect(before.summary).toEqual({ cost: '5.42', unpriced: 1 }); // 0.21 + 5 + 0.21 (outside the range, s3)
    const plan = await reprice(pool, v2, { ...range, tenantId: tenant, apply: false });
    expect(plan).toEqual({
      events: 2,
      sessions: 2,
      lines: [
        { tenantId: tenant, model: 'gpt-4o-mini', events: 1, newlyPriced: 0, notCounting: 0, stillUnpriced: 0, oldCost: '0.21', newCost: '0.42', difference: '0.21' },
        { tenantId: tenant, model: 'house-model', events: 1, newlyPriced: 1, notCounting: 0, stillUnpriced: 0, oldCost: '0', newCost: '1.2', difference: '1.2' },
      ],
    });
    expect(await ledger()).toEqual(before.ledger);
    expect(await summary()).toEqual(before.summary);
  });

  it('applies exactly the affected rows atomically, never a reported cost, and billing and analytics agree after it', async () => {
    const plan = await reprice(pool, v2, { ...range, tenantId: tenant, apply: true });
    expect(plan.events).toBe(2);
    const rows = await ledger();
    expect(rows.filter((r) => r.tenant_id === tenant)).toEqual([
      { tenant_id: tenant, event_id: 'book', cost: '0.420000000', cost_source: 'book', price_version: 'v2' },
      { tenant_id: tenant, event_id: 'house', cost: '1.200000000', cost_source: 'book', price_version: 'v2' },
      { tenant_id: tenant, event_id: 'outside', cost: '0.210000000', cost_source: 'book', price_version: 'v1' },
      { tenant_id: tenant, event_id: 'reported', cost: '5.000000000', cost_source: 'reported', price_version: null },
    ]);
    // The other tenant was not in scope.
    expect(rows.find((r) => r.tenant_id === other)).toMatchObject({ cost: '0.210000000', price_version: 'v1' });
    expect(await summary()).toEqual({ cost: '6.83', unpriced: 0 });
    expect((await verifyLedger(pool)).drifts).toEqual([]);
  });

  it('is a no-op when run again', async () => {
    const again = await reprice(pool, v2, { ...range, tenantId: tenant, apply: true });
    expect(again.events).toBe(0);
    expect(await summary()).toEqual({ cost: '6.83', unpriced: 0 });
  });
});
