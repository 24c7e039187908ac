import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject, it, expect } from 'vitest';
import { traceEvent, utcMonthOf } from '@traceledger/core';
import { uid } from '../../../tests/helpers/world.js';
import { registerCleanup } from '../../../tests/helpers/cleanup.js';
import { applyEvents } from './ledger/apply.js';
import { recomputeSessions } from './ledger/recompute.js';
import { inLedgerTransaction } from './ledger/tx.js';
import { MIGRATIONS_DIR, dropDatabase, migrate } from './migrate.js';
import { createPool } from './pool.js';
import { verifyLedger } from './verify.js';

// Migration 0014 on a ledger written before it: every row moves into the partition of its
// session's first month, each event keeps its key (a repeat is still a repeat), and the sessions
// recomputed from the migrated ledger pass verify.

const ROW_COLUMNS = `tenant_id, event_id, session_id, type, occurred_at, input_tokens, output_tokens, cost::text, cost_source, price_version,
  live, staged, voided_by, replaced_by, voids_event_id, source_partition, source_offset, applied_at`;

it('moves an existing ledger into monthly partitions, keeping every row, key and answer', async () => {
  const admin = new URL(inject('adminDatabaseUrl'));
  admin.pathname = `/tl_test_${inject('runId')}_${uid()}`;
  const url = admin.toString();
  registerCleanup(() => dropDatabase(url));
  // The schema as it was before 0014: the migrations up to 0013, from a copy.
  const before = mkdtempSync(join(tmpdir(), 'tl-migrations-'));
  registerCleanup(() => rmSync(before, { recursive: true, force: true }));
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < '0014')) cpSync(join(MIGRATIONS_DIR, f), join(before, f));
  await migrate(url, { directory: before });
  const pool = createPool(url, { max: 3, applicationName: 'traceledger-test' });
  registerCleanup(() => pool.end());

  const t = `t-${uid()}`;
  // Session s1 first reached the ledger on 31 July (UTC), its second event on 2 August; s2 in
  // September, with a void and a voided event; s3's lock row was never written (a ledger from
  // before ledger_sessions existed would look like that).
  await pool.query(
    `INSERT INTO applied_events (tenant_id, event_id, session_id, type, occurred_at, input_tokens, output_tokens, cost, cost_source, live, voided_by, voids_event_id, source_partition, source_offset, applied_at)
     VALUES ($1, 'e1', 's1', 'llm.usage', '2026-07-31T23:00:00Z', 10, 1, 0.5, 'reported', true, NULL, NULL, 0, 1, '2026-07-31T23:59:59Z'),
            ($1, 'e2', 's1', 'llm.usage', '2026-08-02T10:00:00Z', 20, 2, 0.25, 'reported', true, NULL, NULL, 0, 2, '2026-08-02T10:00:01Z'),
            ($1, 'e3', 's2', 'llm.usage', '2026-09-05T10:00:00Z', 30, 3, 1.125, 'reported', true, 'v1', NULL, 1, 7, '2026-09-05T10:00:01Z'),
            ($1, 'v1', 's2', 'event.voided', '2026-09-05T11:00:00Z', 0, 0, NULL, NULL, true, NULL, 'e3', 1, 8, '2026-09-05T11:00:01Z'),
            ($1, 'e4', 's2', 'llm.usage', '2026-09-06T10:00:00Z', 40, 4, 2, 'reported', true, NULL, NULL, 1, 9, '2026-09-06T10:00:01Z'),
            ($1, 'e5', 's3', 'llm.usage', '2026-10-01T00:00:00Z', 5, 5, 0.001, 'reported', true, NULL, NULL, 2, 1, '2026-10-01T00:00:00Z')`,
    [t],
  );
  await pool.query(`INSERT INTO ledger_sessions (tenant_id, session_id) VALUES ($1, 's1'), ($1, 's2')`, [t]);
  const { rows: old } = await pool.query(`SELECT ${ROW_COLUMNS} FROM applied_events ORDER BY event_id`);

  await migrate(url);

  // Every row as it was, in the partition of its session's first month.
  const { rows: moved } = await pool.query(`SELECT ${ROW_COLUMNS} FROM applied_events ORDER BY event_id`);
  expect(moved).toEqual(old);
  const { rows: parts } = await pool.query<{ event_id: string; part: string }>(`SELECT event_id, tableoid::regclass::text AS part FROM applied_events ORDER BY event_id`);
  expect(parts).toEqual([
    { event_id: 'e1', part: 'applied_events_2026_07' },
    { event_id: 'e2', part: 'applied_events_2026_07' },
    { event_id: 'e3', part: 'applied_events_2026_09' },
    { event_id: 'e4', part: 'applied_events_2026_09' },
    { event_id: 'e5', part: 'applied_events_2026_10' },
    { event_id: 'v1', part: 'applied_events_2026_09' },
  ]);
  const { rows: sessions } = await pool.query(`SELECT session_id, to_char(ledger_month, 'YYYY-MM') AS month, archived FROM ledger_sessions ORDER BY 1`);
  expect(sessions).toEqual([
    { session_id: 's1', month: '2026-07', archived: false },
    { session_id: 's2', month: '2026-09', archived: false },
    { session_id: 's3', month: '2026-10', archived: false },
  ]);
  const { rows: keys } = await pool.query(`SELECT event_id, session_id, to_char(ledger_month, 'YYYY-MM') AS month FROM applied_event_keys ORDER BY 1`);
  expect(keys.map((k) => k.event_id)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'v1']);
  // This month and the next two exist ahead, and the default partition is empty.
  const { rows: ahead } = await pool.query<{ name: string | null }>(`SELECT to_regclass('applied_events_' || to_char(now() AT TIME ZONE 'UTC' + interval '2 months', 'YYYY_MM'))::text AS name`);
  expect(ahead[0]?.name).not.toBeNull();
  expect((await pool.query('SELECT * FROM applied_events_default')).rows).toEqual([]);

  // The migrated ledger still answers exactly once, and its sessions recompute to rows verify accepts.
  const repeat = await applyEvents(pool, [{ event: traceEvent({ eventId: 'e2', tenantId: t, sessionId: 's1', type: 'llm.usage', occurredAtMs: Date.parse('2026-08-02T10:00:00Z'), inputTokens: 20, outputTokens: 2, costNanos: 250_000_000n }) }]);
  expect(repeat).toMatchObject({ applied: 0, duplicates: 1 });
  await inLedgerTransaction(pool, async (tx) => {
    const refs = ['s1', 's2', 's3'].map((sessionId) => ({ tenantId: t, sessionId }));
    await tx.lockSessions(refs);
    await recomputeSessions(tx, refs);
  });
  const { rows: totals } = await pool.query(`SELECT session_id, input_tokens::text AS input, cost::text, event_count::text AS events FROM trace_sessions ORDER BY 1`);
  expect(totals).toEqual([
    { session_id: 's1', input: '30', cost: '0.750000000', events: '2' },
    { session_id: 's2', input: '40', cost: '2.000000000', events: '1' },
    { session_id: 's3', input: '5', cost: '0.001000000', events: '1' },
  ]);
  expect((await verifyLedger(pool)).drifts).toEqual([]);
  // A new session takes the current month.
  await applyEvents(pool, [{ event: traceEvent({ eventId: 'n1', tenantId: t, sessionId: 'new', type: 'llm.usage', occurredAtMs: Date.now(), inputTokens: 1 }) }]);
  const { rows: fresh } = await pool.query<{ part: string }>(`SELECT tableoid::regclass::text AS part FROM applied_events WHERE event_id = 'n1'`);
  expect(fresh[0]?.part).toBe(`applied_events_${utcMonthOf(Date.now()).slice(0, 7).replace('-', '_')}`);
});
