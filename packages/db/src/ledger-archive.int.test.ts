import { describe, expect, it } from 'vitest';
import { traceEvent, type TraceEvent } from '@traceledger/core';
import { createTestDatabase, uid } from '../../../tests/helpers/world.js';
import { closeBackfill, createBackfill, revertBackfill } from './backfill.js';
import { applyEvents, type SourcedEvent } from './ledger/apply.js';
import { archiveLedgerMonth, ensureLedgerPartitions, listLedgerMonths } from './ledger-archive.js';
import { foldIntoShadow, prepareShadow, swapReplay } from './replay.js';
import { verifyLedger } from './verify.js';

// The ledger partitioned by month (migration 0014) on the real Postgres: sessions go to the month
// they first reached the ledger in (the ledger's clock is a hook, so a test can place them in
// August); archiving a month seals its sessions without changing any answer; what a sealed session
// can still take, and what it refuses; the dedupe window; verify and replay around sealed
// sessions; and an archive racing folds of the very sessions it seals.

const { pool } = await createTestDatabase();
const DAY = 86_400_000;
const AUGUST = Date.parse('2026-08-14T10:00:00Z');
const NOW = Date.parse('2026-12-06T12:00:00Z');
const at = (ms: number) => ({ now: () => ms });

function ev(over: Partial<TraceEvent> & Pick<TraceEvent, 'eventId' | 'tenantId' | 'sessionId'>): TraceEvent {
  return traceEvent({ agentId: 'agent', type: 'llm.usage', occurredAtMs: AUGUST, inputTokens: 10, outputTokens: 1, costNanos: 1_000_000n, ...over });
}
const live = (events: TraceEvent[]): SourcedEvent[] => events.map((event) => ({ event }));

async function sessions(tenantId: string): Promise<Record<string, { input: string; cost: string; events: string }>> {
  const { rows } = await pool.query<{ session_id: string; input: string; cost: string; events: string }>(
    'SELECT session_id, input_tokens::text AS input, cost::text, event_count::text AS events FROM trace_sessions WHERE tenant_id = $1 ORDER BY 1',
    [tenantId],
  );
  return Object.fromEntries(rows.map((r) => [r.session_id, { input: r.input, cost: r.cost, events: r.events }]));
}

async function rollup(tenantId: string): Promise<{ sessions: string; input: string; cost: string }> {
  const { rows } = await pool.query<{ sessions: string; input: string; cost: string }>(
    'SELECT sum(sessions)::text AS sessions, sum(input_tokens)::text AS input, sum(cost)::text AS cost FROM session_rollup_hourly WHERE tenant_id = $1',
    [tenantId],
  );
  return rows[0] as { sessions: string; input: string; cost: string };
}

async function monthOf(tenantId: string, sessionId: string): Promise<{ month: string | null; archived: boolean }> {
  const { rows } = await pool.query<{ month: string | null; archived: boolean }>(
    `SELECT to_char(ledger_month, 'YYYY-MM') AS month, archived FROM ledger_sessions WHERE tenant_id = $1 AND session_id = $2`,
    [tenantId, sessionId],
  );
  return rows[0] as { month: string | null; archived: boolean };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM (${sql}) x`, params);
  return Number(rows[0]?.n);
}

describe('the ledger partitioned by month', () => {
  it('puts each session in the month it first reached the ledger, with all its later events', async () => {
    await ensureLedgerPartitions(pool, { now: AUGUST, ahead: 0 });
    const t = `t-${uid()}`;
    await applyEvents(pool, live([ev({ eventId: 'a1', tenantId: t, sessionId: 's' })]), undefined, at(AUGUST));
    // A later event of the same session, folded in October, stays with the session in August.
    await applyEvents(pool, live([ev({ eventId: 'a2', tenantId: t, sessionId: 's' }), ev({ eventId: 'b1', tenantId: t, sessionId: 'new' })]), undefined, at(AUGUST + 60 * DAY));
    const { rows } = await pool.query<{ event_id: string; part: string }>(
      `SELECT event_id, tableoid::regclass::text AS part FROM applied_events WHERE tenant_id = $1 ORDER BY 1`,
      [t],
    );
    expect(rows).toEqual([
      { event_id: 'a1', part: 'applied_events_2026_08' },
      { event_id: 'a2', part: 'applied_events_2026_08' },
      // October had no partition made ahead by this clock: the default partition takes it, never an error.
      { event_id: 'b1', part: 'applied_events_default' },
    ]);
    // Repeats are found across the partitions through the event keys.
    const again = await applyEvents(pool, live([ev({ eventId: 'a1', tenantId: t, sessionId: 's' }), ev({ eventId: 'b1', tenantId: t, sessionId: 'new' })]), undefined, at(NOW));
    expect(again).toMatchObject({ applied: 0, duplicates: 2 });
    // The month whose rows sit in the default partition is named, not created over them.
    expect(await ensureLedgerPartitions(pool, { now: AUGUST + 60 * DAY, ahead: 0 })).toEqual(['2026-10']);
    expect((await listLedgerMonths(pool)).defaultRows).toBe(1);
    await pool.query(`DELETE FROM applied_events_default`);
    expect(await ensureLedgerPartitions(pool, { now: AUGUST + 60 * DAY, ahead: 0 })).toEqual([]);
  });
});

describe('archiving a month', () => {
  it('seals its sessions without changing any answer; sealed sessions take plain events and refuse what needs a recompute', async () => {
    await ensureLedgerPartitions(pool, { now: AUGUST });
    await ensureLedgerPartitions(pool, { now: NOW });
    const t = `t-${uid()}`;
    // August: sessions a and b (b gets a void that takes effect); December: session c.
    await applyEvents(pool, live([ev({ eventId: 'a1', tenantId: t, sessionId: 'a' }), ev({ eventId: 'a2', tenantId: t, sessionId: 'a', inputTokens: 20 }), ev({ eventId: 'b1', tenantId: t, sessionId: 'b' }), ev({ eventId: 'b2', tenantId: t, sessionId: 'b', inputTokens: 7 })]), undefined, at(AUGUST));
    await applyEvents(pool, live([ev({ eventId: 'b-void', tenantId: t, sessionId: 'b', type: 'event.voided', voidsEventId: 'b2', inputTokens: 0, outputTokens: 0, costNanos: null })]), undefined, at(AUGUST + DAY));
    await applyEvents(pool, live([ev({ eventId: 'c1', tenantId: t, sessionId: 'c', occurredAtMs: NOW - DAY })]), undefined, at(NOW - DAY));
    // A closed backfill with a member in August: its membership leaves with the month.
    const bf = await createBackfill(pool, { tenantId: t, replace: false });
    await applyEvents(pool, [{ event: ev({ eventId: 'a-bf', tenantId: t, sessionId: 'a', inputTokens: 100 }), backfillId: bf.backfillId }], undefined, at(AUGUST + DAY));
    await closeBackfill(pool, bf.backfillId);
    const before = await sessions(t);
    const rollupBefore = await rollup(t);
    expect(before).toEqual({
      a: { input: '130', cost: '0.003000000', events: '3' },
      b: { input: '10', cost: '0.001000000', events: '1' },
      c: { input: '10', cost: '0.001000000', events: '1' },
    });

    // Refused: too recent for the dedupe window, and while an open backfill has events in it.
    await expect(archiveLedgerMonth(pool, '2026-08', { dedupeWindowDays: 35, now: Date.parse('2026-10-05T00:00:00Z') })).rejects.toMatchObject({ code: 'TL_LEDGER_ARCHIVE_TOO_RECENT' });
    const open = await createBackfill(pool, { tenantId: t, replace: false });
    await applyEvents(pool, [{ event: ev({ eventId: 'b-open', tenantId: t, sessionId: 'b' }), backfillId: open.backfillId }], undefined, at(NOW));
    await expect(archiveLedgerMonth(pool, '2026-08', { dedupeWindowDays: 35, now: NOW })).rejects.toMatchObject({ code: 'TL_LEDGER_ARCHIVE_REFUSED', message: expect.stringContaining(open.backfillId) });
    await revertBackfill(pool, open.backfillId);
    await expect(archiveLedgerMonth(pool, '2026-07', { dedupeWindowDays: 35, now: NOW })).rejects.toMatchObject({ code: 'TL_LEDGER_MONTH_NOT_FOUND' });

    // One archive at a time: while another holds the archive lock, this one is refused.
    const other = await pool.connect();
    await other.query(`SELECT pg_advisory_lock(8389130102438586486)`);
    await expect(archiveLedgerMonth(pool, '2026-08', { dedupeWindowDays: 35, now: NOW })).rejects.toMatchObject({ code: 'TL_LEDGER_ARCHIVE_BUSY' });
    await other.query(`SELECT pg_advisory_unlock(8389130102438586486)`);
    other.release();

    const augustRows = await count(`SELECT 1 FROM applied_events_2026_08`);
    const result = await archiveLedgerMonth(pool, '2026-08', { dedupeWindowDays: 35, now: NOW });
    expect(result).toMatchObject({ month: '2026-08', events: augustRows, table: 'public.applied_events_2026_08_archived' });
    expect(result.sessions).toBeGreaterThanOrEqual(2);
    // Every answer is what it was; the month's rows are in the detached table, its keys are gone.
    expect(await sessions(t)).toEqual(before);
    expect(await rollup(t)).toEqual(rollupBefore);
    expect(await count(`SELECT 1 FROM applied_events WHERE tenant_id = $1 AND session_id IN ('a', 'b')`, [t])).toBe(0);
    expect(await count(`SELECT 1 FROM applied_events_2026_08_archived WHERE tenant_id = $1`, [t])).toBe(6);
    expect(await count(`SELECT 1 FROM applied_event_keys WHERE ledger_month = '2026-08-01'`)).toBe(0);
    expect(await count(`SELECT 1 FROM backfill_events WHERE backfill_id = $1`, [bf.backfillId])).toBe(0);
    expect(await monthOf(t, 'a')).toEqual({ month: null, archived: true });
    const listed = await listLedgerMonths(pool);
    expect(listed.months.find((m) => m.month === '2026-08')).toMatchObject({ state: 'archived', events: augustRows, destination: 'public.applied_events_2026_08_archived' });
    expect(listed.months.find((m) => m.month === '2026-12')).toMatchObject({ state: 'attached' });
    // verify recomputes every session it still can; sealed ones keep their rows and are counted apart.
    const verified = await verifyLedger(pool, { tenantId: t });
    expect(verified.drifts).toEqual([]);
    expect(verified.sealed).toBe(2);

    // A sealed session takes a plain live event: merged into its row, recorded in this month.
    const late = await applyEvents(pool, live([ev({ eventId: 'a3', tenantId: t, sessionId: 'a', inputTokens: 1000, occurredAtMs: NOW })]), undefined, at(NOW));
    expect(late).toMatchObject({ applied: 1, refused: [] });
    expect((await sessions(t))['a']).toEqual({ input: '1130', cost: '0.004000000', events: '4' });
    expect(await monthOf(t, 'a')).toEqual({ month: '2026-12', archived: true });
    // What would need the archived events to recompute is refused with the reason, changing nothing.
    const refused = await applyEvents(
      pool,
      [
        { event: ev({ eventId: 'a-void', tenantId: t, sessionId: 'a', type: 'event.voided', voidsEventId: 'a1', inputTokens: 0, outputTokens: 0, costNanos: null }) },
        { event: ev({ eventId: 'a-bf2', tenantId: t, sessionId: 'a' }), backfillId: bf.backfillId },
        { event: ev({ eventId: 'c2', tenantId: t, sessionId: 'c' }) },
      ],
      undefined,
      at(NOW),
    );
    expect(refused.refused.map((r) => [r.index, r.code])).toEqual([
      [0, 'TL_SESSION_ARCHIVED'],
      [1, 'TL_SESSION_ARCHIVED'],
    ]);
    expect(refused.refused[0]?.reason).toContain('archived ledger months');
    expect(refused.applied).toBe(1);
    expect((await sessions(t))['a']).toEqual({ input: '1130', cost: '0.004000000', events: '4' });
    // The dedupe window, as documented: an archived event sent again counts again.
    await applyEvents(pool, live([ev({ eventId: 'a1', tenantId: t, sessionId: 'a' })]), undefined, at(NOW));
    expect((await sessions(t))['a']?.events).toBe('5');
    expect((await verifyLedger(pool, { tenantId: t })).drifts).toEqual([]);

    // A replay leaves sealed sessions as they are and swaps the rest in.
    const rowA = (await sessions(t))['a'];
    const shadow = await prepareShadow(pool);
    await foldIntoShadow(pool, shadow, live([ev({ eventId: 'a3', tenantId: t, sessionId: 'a', inputTokens: 1000, occurredAtMs: NOW }), ev({ eventId: 'c1', tenantId: t, sessionId: 'c', occurredAtMs: NOW - DAY }), ev({ eventId: 'c2', tenantId: t, sessionId: 'c' })]));
    const swapped = await swapReplay(pool, shadow);
    expect(swapped).toMatchObject({ sealed: 1, sessions: 1, events: 2 });
    expect((await sessions(t))['a']).toEqual(rowA);
    expect((await sessions(t))['c']).toEqual({ input: '20', cost: '0.002000000', events: '2' });
    expect((await verifyLedger(pool, { tenantId: t })).drifts).toEqual([]);
  });

  it('while folds of the sessions it seals run: every event counted once, none lost, nothing left in the month', async ({ annotate }) => {
    const t = `t-${uid()}`;
    const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
    let n = 0;
    const batch = (size: number) => Array.from({ length: size }, () => ev({ eventId: `e${n++}`, tenantId: t, sessionId: ids[n % ids.length] as string, inputTokens: 1 }));
    // September this time (August was archived by the test before).
    const SEPTEMBER = Date.parse('2026-09-10T00:00:00Z');
    await ensureLedgerPartitions(pool, { now: SEPTEMBER, ahead: 0 });
    for (let i = 0; i < 10; i++) await applyEvents(pool, live(batch(40)), undefined, at(SEPTEMBER));
    const folded = { events: 400, duringArchive: 0 };
    let archiving = true;
    // Three folders of late events for those very sessions, racing the archive's session locks.
    const folders = Array.from({ length: 3 }, async () => {
      while (archiving) {
        const r = await applyEvents(pool, live(batch(25)), undefined, at(NOW));
        expect(r.refused).toEqual([]);
        folded.events += r.applied;
        folded.duringArchive += r.applied;
      }
    });
    // Seven sessions per transaction: the folds meet the archive between and inside its chunks.
    const result = await archiveLedgerMonth(pool, '2026-09', { dedupeWindowDays: 35, now: NOW, chunkSize: 7 }).finally(() => (archiving = false));
    await Promise.all(folders);
    await annotate(`${folded.duringArchive} events folded into the sessions while they were sealed and the month detached`);
    expect(folded.duringArchive).toBeGreaterThan(0);
    // Nothing lost, nothing twice: the rows add up to every event, the ledger rows are in the
    // archived table or in December, and none of September was left behind.
    const { rows } = await pool.query<{ events: string; input: string }>('SELECT sum(event_count)::text AS events, sum(input_tokens)::text AS input FROM trace_sessions WHERE tenant_id = $1', [t]);
    expect(rows[0]).toEqual({ events: String(folded.events), input: String(folded.events) });
    const archived = await count(`SELECT 1 FROM applied_events_2026_09_archived WHERE tenant_id = $1`, [t]);
    const kept = await count(`SELECT 1 FROM applied_events WHERE tenant_id = $1`, [t]);
    expect(archived + kept).toBe(folded.events);
    expect(result.events).toBe(archived);
    expect(result.sessions).toBe(ids.length);
    expect(await count(`SELECT 1 FROM applied_events WHERE tenant_id = $1 AND ledger_month <> '2026-12-01'`, [t])).toBe(0);
    expect(await count(`SELECT 1 FROM ledger_sessions WHERE tenant_id = $1 AND NOT archived`, [t])).toBe(0);
    expect((await verifyLedger(pool, { tenantId: t })).drifts).toEqual([]);
  });
});
