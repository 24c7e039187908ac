import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '@traceledger/core';
import { createTestDatabase, uid } from '../../../tests/helpers/world.js';
import { applyEvents, recomputeSessions } from './fold-store.js';
import { verifyDerived } from './verify.js';

const { pool } = await createTestDatabase();

function ev(over: Partial<TraceEvent> & Pick<TraceEvent, 'eventId' | 'tenantId' | 'sessionId'>): TraceEvent {
  return {
    agentId: 'agent', teamId: null, type: 'llm.usage', occurredAtMs: Date.now() - 60_000, provider: null, model: null,
    inputTokens: 10, outputTokens: 1, cachedInputTokens: 0, reasoningTokens: 0, costNanos: 1_000_000n, status: null,
    error: null, toolName: null, durationMs: null, voidsEventId: null, reason: null, ...over,
  };
}

async function row(tenantId: string, sessionId: string) {
  const { rows } = await pool.query(
    'SELECT input_tokens::int AS input, cost::text, event_count FROM trace_sessions WHERE tenant_id = $1 AND session_id = $2',
    [tenantId, sessionId],
  );
  return rows[0];
}

describe('applyEvents on real Postgres', () => {
  it('counts an event once when two transactions apply the same batch at the same time', async () => {
    const tenant = `t-${uid()}`;
    const batch = Array.from({ length: 200 }, (_, i) => ({ event: ev({ eventId: `e${i}`, tenantId: tenant, sessionId: `s${i % 7}` }) }));
    const results = await Promise.all([applyEvents(pool, batch), applyEvents(pool, [...batch].reverse()), applyEvents(pool, batch)]);
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(200);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(400);
    const { rows } = await pool.query('SELECT sum(event_count)::int AS n, sum(cost)::text AS cost FROM trace_sessions WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ n: 200, cost: '0.200000000' });
  });

  it('keeps tenants apart: the same event id in two tenants is two events, and a void only reaches its own tenant', async () => {
    const [a, b] = [`ta-${uid()}`, `tb-${uid()}`];
    await applyEvents(pool, [{ event: ev({ eventId: 'shared-id', tenantId: a, sessionId: 's' }) }, { event: ev({ eventId: 'shared-id', tenantId: b, sessionId: 's' }) }]);
    expect(await row(a, 's')).toEqual({ input: 10, cost: '0.001000000', event_count: 1 });
    expect(await row(b, 's')).toEqual({ input: 10, cost: '0.001000000', event_count: 1 });
    // Tenant A voids "shared-id": A's event goes, B's stays.
    await applyEvents(pool, [{ event: ev({ eventId: 'void-1', tenantId: a, sessionId: 's', type: 'event.voided', voidsEventId: 'shared-id', costNanos: null, inputTokens: 0, outputTokens: 0 }) }]);
    expect(await row(a, 's')).toBeUndefined();
    expect(await row(b, 's')).toEqual({ input: 10, cost: '0.001000000', event_count: 1 });
  });

  it('rolls back the ledger with the row: a failed batch leaves no event marked as applied', async () => {
    const tenant = `t-${uid()}`;
    const good = ev({ eventId: 'ok', tenantId: tenant, sessionId: 's' });
    // Negative tokens pass the ledger insert but break trace_sessions' CHECK in the upsert after it.
    const poison = ev({ eventId: 'boom', tenantId: tenant, sessionId: 's2', inputTokens: -1000 });
    await expect(applyEvents(pool, [{ event: good }, { event: poison }])).rejects.toThrow();
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM applied_events WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ n: 0 });
    // Redelivered without the poison, the good event is applied once.
    const r = await applyEvents(pool, [{ event: good }]);
    expect(r.applied).toBe(1);
    expect(await row(tenant, 's')).toEqual({ input: 10, cost: '0.001000000', event_count: 1 });
  });

  it('recomputes thousands of sessions from the ledger across chunks, exactly', async () => {
    const tenant = `t-${uid()}`;
    const n = 2500; // more than two chunks of a thousand
    await applyEvents(pool, Array.from({ length: n }, (_, i) => ({ event: ev({ eventId: `r${i}`, tenantId: tenant, sessionId: `s${i}`, costNanos: BigInt(i + 1) }) })));
    const total = async () => (await pool.query<{ cost: string; n: number }>('SELECT sum(cost)::text AS cost, count(*)::int AS n FROM trace_sessions WHERE tenant_id = $1', [tenant])).rows[0];
    const before = await total();
    await pool.query('UPDATE trace_sessions SET cost = 0, event_count = 0 WHERE tenant_id = $1', [tenant]);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await recomputeSessions(client, Array.from({ length: n }, (_, i) => ({ tenantId: tenant, sessionId: `s${i}` })));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await total()).toEqual(before);
    expect(before).toEqual({ cost: `0.00${String((n * (n + 1)) / 2).padStart(7, '0')}`, n });
    expect(await verifyDerived(pool, { tenantId: tenant })).toEqual([]);
  });
});
