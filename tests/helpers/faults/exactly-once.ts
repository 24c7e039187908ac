import { expect } from 'vitest';
import { normaliseDecimalText } from '@traceledger/core';
import { verifyLedger, type Pool } from '@traceledger/db';
import { expectedTotals, type AckedEvent } from './traffic.js';

/**
 * The promise every fault test checks at the end: the set of events the ingest API acknowledged
 * equals the set folded (the applied_events ledger), no event is counted twice (the session rows
 * count exactly the ledger's counting events), and each tenant's sums of events, sessions, tokens and
 * cost equal the hand-computed sums of what was acknowledged. verify (every session recomputed
 * from the ledger, rollups, per-model usage) finds no difference.
 */
export async function expectExactlyOnce(pool: Pool, acked: readonly AckedEvent[]): Promise<void> {
  const key = (tenant: string, id: string) => `${tenant}\u241f${id}`;
  const ackedKeys = new Set(acked.map((a) => key(a.tenant, a.event.event_id)));
  expect(ackedKeys.size, 'each acknowledged event id appears once in the test ledger').toBe(acked.length);

  const { rows: ledger } = await pool.query<{ tenant_id: string; event_id: string }>('SELECT tenant_id, event_id FROM applied_events');
  const folded = new Set(ledger.map((r) => key(r.tenant_id, r.event_id)));
  const missing = [...ackedKeys].filter((k) => !folded.has(k));
  const extra = [...folded].filter((k) => !ackedKeys.has(k));
  expect({ missing: missing.slice(0, 10), missingCount: missing.length }, 'acknowledged but not folded').toEqual({ missing: [], missingCount: 0 });
  expect({ extra: extra.slice(0, 10), extraCount: extra.length }, 'folded but never acknowledged').toEqual({ extra: [], extraCount: 0 });

  const { rows: counted } = await pool.query<{ rows: string; live: string }>(
    `SELECT (SELECT coalesce(sum(event_count), 0) FROM trace_sessions)::text AS rows,
            (SELECT count(*) FROM applied_events WHERE type <> 'event.voided' AND NOT staged AND voided_by IS NULL AND replaced_by IS NULL)::text AS live`,
  );
  expect(Number(counted[0]?.rows), 'sum of trace_sessions.event_count = live ledger events (nothing counted twice)').toBe(Number(counted[0]?.live));

  const { rows: perTenant } = await pool.query<{ tenant_id: string; events: string; sessions: string; input: string; output: string; cost: string }>(
    `SELECT tenant_id, sum(event_count)::text AS events, count(*)::text AS sessions, sum(input_tokens)::text AS input,
            sum(output_tokens)::text AS output, sum(cost)::text AS cost
     FROM trace_sessions GROUP BY tenant_id ORDER BY tenant_id`,
  );
  const actual = Object.fromEntries(
    perTenant.map((r) => [r.tenant_id, { events: Number(r.events), sessions: Number(r.sessions), inputTokens: r.input, outputTokens: r.output, cost: normaliseDecimalText(r.cost) }]),
  );
  const expected = Object.fromEntries(
    [...expectedTotals(acked)].map(([tenant, t]) => [tenant, { events: t.events, sessions: t.sessions, inputTokens: String(t.inputTokens), outputTokens: String(t.outputTokens), cost: normaliseDecimalText(t.cost) }]),
  );
  expect(actual, 'per-tenant sums').toEqual(expected);
  expect((await verifyLedger(pool)).drifts, 'every session is what its ledger events make it; rollups and per-model usage agree').toEqual([]);
}
