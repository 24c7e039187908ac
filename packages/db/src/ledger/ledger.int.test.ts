import { describe, expect, it } from 'vitest';
import { PriceBook, traceEvent, type PriceEntry, type TraceEvent } from '@traceledger/core';
import { createTestDatabase, uid, waitFor } from '../../../../tests/helpers/world.js';
import { registerCleanup } from '../../../../tests/helpers/cleanup.js';
import { closeBackfill, createBackfill, revertBackfill } from '../backfill.js';
import { createPool } from '../pool.js';
import { storePriceEntries } from '../price-book.js';
import { reprice } from '../reprice.js';
import { verifyLedger } from '../verify.js';
import { applyEvents, type SourcedEvent } from './apply.js';
import { bookPricing } from './pricing.js';
import { recomputeSessions } from './recompute.js';
import { inLedgerTransaction } from './tx.js';

// The ledger module on the real Postgres: exactly once, the rule of what counts through every
// path, and the concurrency rule — each race is forced by holding one transaction at its
// beforeCommit hook while the other path runs, then checked with verifyLedger (the pure rule
// re-applied to every session) and exact sums.

const { url, pool } = await createTestDatabase();
// Operator commands on connections of their own name, to see them wait.
const operator = createPool(url, { max: 3, applicationName: 'tl-ledger-test-operator' });
registerCleanup(() => operator.end());

const T = Date.now() - 3_600_000;
function ev(over: Partial<TraceEvent> & Pick<TraceEvent, 'eventId' | 'tenantId' | 'sessionId'>): TraceEvent {
  return traceEvent({ agentId: 'agent', type: 'llm.usage', occurredAtMs: T, inputTokens: 10, outputTokens: 1, costNanos: 1_000_000n, ...over });
}
const voidOf = (tenantId: string, sessionId: string, eventId: string, target: string): TraceEvent =>
  ev({ eventId, tenantId, sessionId, type: 'event.voided', voidsEventId: target, costNanos: null, inputTokens: 0, outputTokens: 0 });

async function row(tenantId: string, sessionId: string) {
  const { rows } = await pool.query<{ input: string; cost: string; event_count: string }>(
    'SELECT input_tokens::text AS input, cost::text, event_count::text FROM trace_sessions WHERE tenant_id = $1 AND session_id = $2',
    [tenantId, sessionId],
  );
  return rows[0];
}

async function expectConsistent(tenantId: string): Promise<void> {
  const result = await verifyLedger(pool, { tenantId });
  expect(result.drifts).toEqual([]);
}

/** A gate a held transaction waits at, opened by the test. */
function gate(): { hooks: { beforeCommit: () => Promise<void> }; reached: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  let reached: () => void = () => undefined;
  const opened = new Promise<void>((r) => (open = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  return {
    hooks: {
      beforeCommit: async () => {
        reached();
        await opened;
      },
    },
    reached: reachedP,
    open,
  };
}

/** Waits until a connection of the operator pool is blocked on a lock. */
async function operatorWaitsOnLock(): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'tl-ledger-test-operator' AND wait_event_type = 'Lock'",
      );
      return (rows[0]?.n ?? 0) > 0;
    },
    { what: 'the operator command to wait on the held transaction', timeoutMs: 10_000, intervalMs: 20 },
  );
}

const staged = (b: string, event: TraceEvent): SourcedEvent => ({ event, backfillId: b });

describe('the ledger: exactly once', () => {
  it('counts an event once when three transactions apply the same batch at the same time', async () => {
    const tenant = `t-${uid()}`;
    const batch = Array.from({ length: 200 }, (_, i) => ({ event: ev({ eventId: `e${i}`, tenantId: tenant, sessionId: `s${i % 7}` }) }));
    const results = await Promise.all([applyEvents(pool, batch), applyEvents(pool, [...batch].reverse()), applyEvents(pool, batch)]);
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(200);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(400);
    const { rows } = await pool.query('SELECT sum(event_count)::int AS n, sum(cost)::text AS cost FROM trace_sessions WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ n: 200, cost: '0.200000000' });
    await expectConsistent(tenant);
  });

  it('keeps tenants apart: the same event id in two tenants is two events, and a void only reaches its own tenant', async () => {
    const [a, b] = [`ta-${uid()}`, `tb-${uid()}`];
    await applyEvents(pool, [{ event: ev({ eventId: 'shared-id', tenantId: a, sessionId: 's' }) }, { event: ev({ eventId: 'shared-id', tenantId: b, sessionId: 's' }) }]);
    await applyEvents(pool, [{ event: voidOf(a, 's', 'void-1', 'shared-id') }]);
    expect(await row(a, 's')).toBeUndefined();
    expect(await row(b, 's')).toEqual({ input: '10', cost: '0.001000000', event_count: '1' });
    await expectConsistent(a);
    await expectConsistent(b);
  });

  it('rolls back the ledger with the row: a failed batch leaves no event recorded', async () => {
    const tenant = `t-${uid()}`;
    const good = ev({ eventId: 'ok', tenantId: tenant, sessionId: 's' });
    // Negative tokens pass the ledger insert but break trace_sessions' CHECK in the upsert after it.
    const poison = ev({ eventId: 'boom', tenantId: tenant, sessionId: 's2', inputTokens: -1000 });
    await expect(applyEvents(pool, [{ event: good }, { event: poison }])).rejects.toMatchObject({ code: '23514' });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM applied_events WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ n: 0 });
    expect((await applyEvents(pool, [{ event: good }])).applied).toBe(1);
    expect(await row(tenant, 's')).toEqual({ input: '10', cost: '0.001000000', event_count: '1' });
  });

  it('recomputes thousands of sessions from the ledger across chunks, exactly', async () => {
    const tenant = `t-${uid()}`;
    const n = 2500; // more than two chunks of a thousand
    const sessions = Array.from({ length: n }, (_, i) => ({ tenantId: tenant, sessionId: `s${i}` }));
    await applyEvents(pool, sessions.map((s, i) => ({ event: ev({ eventId: `r${i}`, ...s, costNanos: BigInt(i + 1) }) })));
    const total = async () => (await pool.query<{ cost: string; n: number }>('SELECT sum(cost)::text AS cost, count(*)::int AS n FROM trace_sessions WHERE tenant_id = $1', [tenant])).rows[0];
    const before = await total();
    await pool.query('UPDATE trace_sessions SET cost = 0, event_count = 0 WHERE tenant_id = $1', [tenant]);
    // Each session's cost and count differ from its ledger, and its per-model usage from the row.
    expect((await verifyLedger(pool, { tenantId: tenant })).driftCount).toBe(3 * n);
    await inLedgerTransaction(pool, async (tx) => {
      await tx.lockSessions(sessions);
      await recomputeSessions(tx, sessions);
    });
    expect(await total()).toEqual(before);
    expect(before).toEqual({ cost: `0.00${String((n * (n + 1)) / 2).padStart(7, '0')}`, n });
    await expectConsistent(tenant);
  });

  it('refuses to touch a session without its lock, and locks out of order', async () => {
    await expect(
      inLedgerTransaction(pool, async (tx) => {
        await tx.lockSessions([{ tenantId: 't', sessionId: 'b' }]);
        await tx.lockSessions([{ tenantId: 't', sessionId: 'a' }]);
      }),
    ).rejects.toMatchObject({ code: 'TL_LEDGER_LOCK_ORDER' });
    await expect(
      inLedgerTransaction(pool, async (tx) => {
        await tx.lockSessions([{ tenantId: 't', sessionId: 'a' }]);
        await tx.lockPriceBook('shared');
      }),
    ).rejects.toMatchObject({ code: 'TL_LEDGER_LOCK_ORDER' });
    await expect(inLedgerTransaction(pool, async (tx) => recomputeSessions(tx, [{ tenantId: 't', sessionId: 'x' }]))).rejects.toMatchObject({ code: 'TL_LEDGER_LOCK_ORDER' });
  });
});

describe('the ledger: exact integers at the bounds', () => {
  it('sums tokens past 2^53 exactly (10,000 events of 10^12 tokens each in one session)', async () => {
    const tenant = `t-${uid()}`;
    const max = 1_000_000_000_000;
    const batch = Array.from({ length: 10_000 }, (_, i) => ({
      event: ev({ eventId: `big${i}`, tenantId: tenant, sessionId: 's', inputTokens: max, outputTokens: max, cachedInputTokens: max, reasoningTokens: max - 1, costNanos: null }),
    }));
    for (let i = 0; i < batch.length; i += 2500) await applyEvents(pool, batch.slice(i, i + 2500));
    const { rows } = await pool.query('SELECT input_tokens::text AS i, reasoning_tokens::text AS r, unpriced_tokens::text AS u, event_count::text AS n FROM trace_sessions WHERE tenant_id = $1', [tenant]);
    // 10^16 > 2^53 ≈ 9.007·10^15: a float sum would have lost the last digits.
    expect(rows[0]).toEqual({ i: '10000000000000000', r: '9999999999990000', u: '39999999999990000', n: '10000' });
    const hour = await pool.query('SELECT sum(input_tokens)::text AS i FROM session_rollup_hourly WHERE tenant_id = $1', [tenant]);
    expect(hour.rows[0]).toEqual({ i: '10000000000000000' });
    await expectConsistent(tenant);
  });

  it('rollups and sessions hold sums past the 64-bit range', async () => {
    const tenant = `t-${uid()}`;
    // A session already at the largest 64-bit integer (as if 9.2 million events of 10^12 had come),
    // then more usage in the same hour: the row and the hour's rollup go past 2^63 - 1.
    await applyEvents(pool, [{ event: ev({ eventId: 'a', tenantId: tenant, sessionId: 's1' }) }]);
    await pool.query("UPDATE trace_sessions SET input_tokens = 9223372036854775807 WHERE tenant_id = $1", [tenant]);
    await applyEvents(pool, [{ event: ev({ eventId: 'b', tenantId: tenant, sessionId: 's1', inputTokens: 1_000_000_000_000 }) }, { event: ev({ eventId: 'c', tenantId: tenant, sessionId: 's2', inputTokens: 1_000_000_000_000 }) }]);
    expect((await row(tenant, 's1'))?.input).toBe('9223373036854775807');
    const { rows } = await pool.query('SELECT sum(input_tokens)::text AS i FROM session_rollup_hourly WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ i: '9223374036854775807' });
  });
});

describe('the ledger: what counts, through every path', () => {
  it('applies a void before or after its target, live or through a backfill', async () => {
    const tenant = `t-${uid()}`;
    // Void first, target later, both live.
    await applyEvents(pool, [{ event: voidOf(tenant, 's1', 'v1', 'u1') }]);
    await applyEvents(pool, [{ event: ev({ eventId: 'u1', tenantId: tenant, sessionId: 's1' }) }, { event: ev({ eventId: 'u2', tenantId: tenant, sessionId: 's1' }) }]);
    expect((await row(tenant, 's1'))?.event_count).toBe('1');
    // A live void whose target arrives through a backfill: it counts nowhere once the backfill closes.
    const b = await createBackfill(pool, { tenantId: tenant });
    await applyEvents(pool, [{ event: voidOf(tenant, 's2', 'v2', 'h1') }, { event: ev({ eventId: 'l2', tenantId: tenant, sessionId: 's2' }) }]);
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h1', tenantId: tenant, sessionId: 's2', costNanos: 5_000_000_000n }))]);
    await closeBackfill(pool, b.backfillId);
    expect(await row(tenant, 's2')).toEqual({ input: '10', cost: '0.001000000', event_count: '1' });
    await expectConsistent(tenant);
  });

  it('counts a backfill record read after the close at once, and refuses one read after a revert or of an unknown backfill', async () => {
    const tenant = `t-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h1', tenantId: tenant, sessionId: 's' }))]);
    await closeBackfill(pool, b.backfillId);
    const late = await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h2', tenantId: tenant, sessionId: 's' }))]);
    expect(late.refused).toEqual([]);
    expect((await row(tenant, 's'))?.event_count).toBe('2');
    await revertBackfill(pool, b.backfillId);
    expect(await row(tenant, 's')).toBeUndefined();
    const after = await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h3', tenantId: tenant, sessionId: 's' })), staged('bf_nosuch', ev({ eventId: 'h4', tenantId: tenant, sessionId: 's' }))]);
    expect(after.refused.map((r) => [r.index, r.code])).toEqual([
      [0, 'TL_BACKFILL_REVERTED'],
      [1, 'TL_BACKFILL_UNKNOWN'],
    ]);
    // Another tenant's backfill is unknown to this tenant.
    const other = await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'x', tenantId: `other-${uid()}`, sessionId: 's' }))]);
    expect(other.refused.map((r) => r.code)).toEqual(['TL_BACKFILL_UNKNOWN']);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM applied_events WHERE tenant_id = $1', [tenant]);
    expect(rows[0]).toEqual({ n: 0 });
    await expectConsistent(tenant);
  });

  it('makes a live and a backfill arrival of one event id one event, which a revert keeps when it arrived live', async () => {
    const tenant = `t-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    const e1 = ev({ eventId: 'both-1', tenantId: tenant, sessionId: 's' });
    const e2 = ev({ eventId: 'both-2', tenantId: tenant, sessionId: 's' });
    // e1: backfill first, then live. e2: live first, then backfill. Plus one event only in the backfill.
    await applyEvents(pool, [staged(b.backfillId, e1), { event: e2 }, staged(b.backfillId, ev({ eventId: 'only-b', tenantId: tenant, sessionId: 's' }))]);
    await applyEvents(pool, [{ event: e1 }, staged(b.backfillId, e2)]);
    expect((await row(tenant, 's'))?.event_count).toBe('2');
    await closeBackfill(pool, b.backfillId);
    expect((await row(tenant, 's'))?.event_count).toBe('3');
    const reverted = await revertBackfill(pool, b.backfillId);
    expect(reverted.events).toBe(1);
    expect((await row(tenant, 's'))?.event_count).toBe('2');
    await expectConsistent(tenant);
  });

  it('in replace mode sets aside the other events of covered sessions; a live void of a replaced event still holds after a revert', async () => {
    const tenant = `t-${uid()}`;
    await applyEvents(pool, [{ event: ev({ eventId: 'old-1', tenantId: tenant, sessionId: 's', costNanos: 9_000_000_000n }) }, { event: ev({ eventId: 'old-2', tenantId: tenant, sessionId: 's' }) }]);
    const b = await createBackfill(pool, { tenantId: tenant, replace: true });
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'new-1', tenantId: tenant, sessionId: 's', costNanos: 2_000_000_000n }))]);
    await closeBackfill(pool, b.backfillId);
    expect(await row(tenant, 's')).toEqual({ input: '10', cost: '2.000000000', event_count: '1' });
    // A live event arriving after the close for a replaced session is set aside too; a live void of a replaced event is recorded.
    await applyEvents(pool, [{ event: ev({ eventId: 'late-live', tenantId: tenant, sessionId: 's' }) }, { event: voidOf(tenant, 's', 'v-old-1', 'old-1') }]);
    expect((await row(tenant, 's'))?.cost).toBe('2.000000000');
    const { rows: marks } = await pool.query('SELECT event_id, replaced_by, voided_by FROM applied_events WHERE tenant_id = $1 ORDER BY event_id', [tenant]);
    expect(marks).toEqual([
      { event_id: 'late-live', replaced_by: b.backfillId, voided_by: null },
      { event_id: 'new-1', replaced_by: null, voided_by: null },
      { event_id: 'old-1', replaced_by: b.backfillId, voided_by: 'v-old-1' },
      { event_id: 'old-2', replaced_by: b.backfillId, voided_by: null },
      { event_id: 'v-old-1', replaced_by: null, voided_by: null },
    ]);
    await revertBackfill(pool, b.backfillId);
    // old-1 stays voided; old-2 and late-live count again.
    expect(await row(tenant, 's')).toEqual({ input: '20', cost: '0.002000000', event_count: '2' });
    await expectConsistent(tenant);
  });
});

describe('the ledger: one concurrency rule', () => {
  it('a backfill close waits for a fold holding a session it covers; the folded event is counted', async () => {
    const tenant = `t-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h1', tenantId: tenant, sessionId: 's' }))]);
    const g = gate();
    const fold = applyEvents(pool, [{ event: ev({ eventId: 'live-1', tenantId: tenant, sessionId: 's', costNanos: 7_000_000n }) }], undefined, g.hooks);
    await g.reached;
    const close = closeBackfill(operator, b.backfillId);
    await operatorWaitsOnLock();
    g.open();
    await Promise.all([fold, close]);
    expect(await row(tenant, 's')).toEqual({ input: '20', cost: '0.008000000', event_count: '2' });
    await expectConsistent(tenant);
  });

  it('a fold of a backfill record waits for a close holding the backfill; the record then counts, never staged forever', async () => {
    const tenant = `t-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h1', tenantId: tenant, sessionId: 's1' }))]);
    const g = gate();
    const close = closeBackfill(operator, b.backfillId, g.hooks);
    await g.reached;
    const fold = applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h2', tenantId: tenant, sessionId: 's2' }))]);
    await waitFor(async () => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'traceledger-test' AND wait_event_type = 'Lock'");
      return (rows[0]?.n ?? 0) > 0;
    }, { what: 'the fold to wait on the close', timeoutMs: 10_000, intervalMs: 20 });
    g.open();
    await Promise.all([close, fold]);
    expect((await row(tenant, 's2'))?.event_count).toBe('1');
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM applied_events WHERE tenant_id = $1 AND staged', [tenant]);
    expect(rows[0]).toEqual({ n: 0 });
    await expectConsistent(tenant);
  });

  it('a revert waits for a fold holding a session it covers; the live event survives the revert', async () => {
    const tenant = `t-${uid()}`;
    const b = await createBackfill(pool, { tenantId: tenant });
    await applyEvents(pool, [staged(b.backfillId, ev({ eventId: 'h1', tenantId: tenant, sessionId: 's' }))]);
    await closeBackfill(pool, b.backfillId);
    const g = gate();
    const fold = applyEvents(pool, [{ event: ev({ eventId: 'live-1', tenantId: tenant, sessionId: 's' }) }, { event: ev({ eventId: 'h1', tenantId: tenant, sessionId: 's' }) }], undefined, g.hooks);
    await g.reached;
    const revert = revertBackfill(operator, b.backfillId);
    await operatorWaitsOnLock();
    g.open();
    await Promise.all([fold, revert]);
    // h1 also arrived live, so the revert keeps it.
    expect((await row(tenant, 's'))?.event_count).toBe('2');
    await expectConsistent(tenant);
  });

  it('a reprice waits for a fold holding a session it re-prices, and re-prices the event that fold recorded', async () => {
    const tenant = `t-${uid()}`;
    const model = `m-${uid()}`;
    const entry = (version: string, input: bigint): PriceEntry => ({
      version, provider: null, model, effectiveFromMs: T - 86_400_000, inputPerMillion: input, outputPerMillion: 0n, cachedInputPerMillion: 0n, reasoningPerMillion: 0n,
    });
    await storePriceEntries(pool, [entry('a-v1', 1_000_000_000n)]);
    const pricing = bookPricing();
    const usage = (id: string): TraceEvent => ev({ eventId: id, tenantId: tenant, sessionId: 's', model, costNanos: null, inputTokens: 1_000_000 });
    await applyEvents(pool, [{ event: usage('u1') }], pricing);
    const g = gate();
    const fold = applyEvents(pool, [{ event: usage('u2') }], pricing, g.hooks);
    await g.reached;
    // The restated version is stored after the fold read the book: storing waits for the fold.
    const restated = [entry('a-v1', 1_000_000_000n), entry('a-v2', 3_000_000_000n)];
    const store = storePriceEntries(operator, [entry('a-v2', 3_000_000_000n)]);
    await operatorWaitsOnLock();
    g.open();
    await Promise.all([fold, store]);
    await reprice(operator, new PriceBook(restated), { from: new Date(T - 86_400_000), to: new Date(T + 86_400_000), tenantId: tenant, apply: true });
    // Both at the restated price; a fold after the store prices with it directly.
    await applyEvents(pool, [{ event: usage('u3') }], pricing);
    expect(await row(tenant, 's')).toEqual({ input: '3000000', cost: '9.000000000', event_count: '3' });
    await expectConsistent(tenant);
  });

  it('a fold that waits on the price-book lock while a version is stored prices with that version', async () => {
    const tenant = `t-${uid()}`;
    const model = `m-${uid()}`;
    const entry = (version: string, input: bigint): PriceEntry => ({
      version, provider: null, model, effectiveFromMs: T - 86_400_000, inputPerMillion: input, outputPerMillion: 0n, cachedInputPerMillion: 0n, reasoningPerMillion: 0n,
    });
    await storePriceEntries(pool, [entry('b-v1', 1_000_000_000n)]);
    const pricing = bookPricing();
    const usage = (id: string, sessionId: string): TraceEvent => ev({ eventId: id, tenantId: tenant, sessionId, model, costNanos: null, inputTokens: 1_000_000 });
    await applyEvents(pool, [{ event: usage('u1', 's1') }], pricing);
    // The store holds the exclusive lock; a fold of a session the reprice will not know about waits.
    const g = gate();
    const store = storePriceEntries(operator, [entry('b-v2', 3_000_000_000n)], g.hooks);
    await g.reached;
    const fold = applyEvents(pool, [{ event: usage('u2', 's-new') }], pricing);
    await waitFor(async () => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'traceledger-test' AND wait_event = 'advisory'");
      return (rows[0]?.n ?? 0) > 0;
    }, { what: 'the fold to wait on the price-book lock', timeoutMs: 10_000, intervalMs: 20 });
    g.open();
    await Promise.all([store, fold]);
    expect(await row(tenant, 's-new')).toEqual({ input: '1000000', cost: '3.000000000', event_count: '1' });
    await expectConsistent(tenant);
  });

  it('two transactions folding a void and its target for one session at once: the target never counts', async () => {
    for (const voidFirst of [true, false]) {
      const tenant = `t-${uid()}`;
      await applyEvents(pool, [{ event: ev({ eventId: 'keep', tenantId: tenant, sessionId: 's' }) }]);
      const target = { event: ev({ eventId: 'target', tenantId: tenant, sessionId: 's', costNanos: 3_000_000_000n }) };
      const theVoid = { event: voidOf(tenant, 's', 'the-void', 'target') };
      const g = gate();
      const held = applyEvents(pool, [voidFirst ? theVoid : target], undefined, g.hooks);
      await g.reached;
      const other = applyEvents(operator, [voidFirst ? target : theVoid]);
      await operatorWaitsOnLock();
      g.open();
      await Promise.all([held, other]);
      expect(await row(tenant, 's')).toEqual({ input: '10', cost: '0.001000000', event_count: '1' });
      await expectConsistent(tenant);
    }
  });
});
