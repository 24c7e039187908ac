import type { Pool } from 'pg';
import { TraceLedgerError, addUtcMonths, parseMonth, utcMonthOf } from '@traceledger/core';
import { inLedgerTransaction, type LedgerHooks, type SessionRef } from './ledger/tx.js';

/**
 * The ledger's monthly partitions (migration 0014, docs/scaling.md "Ledger partitions and
 * retention"): kept ahead of the clock, listed, and archived a month at a time.
 */

const DAY_MS = 86_400_000;

function partitionName(month: string): string {
  return `applied_events_${month.slice(0, 7).replace('-', '_')}`;
}

/**
 * Creates the partitions of this month and the next `ahead` months that are missing (the consumer
 * calls it at start and every hour, so new sessions never land in the default partition). Returns
 * the months whose partition could not be made because the default partition holds rows of them.
 */
export async function ensureLedgerPartitions(pool: Pool, options: { now?: number; ahead?: number } = {}): Promise<string[]> {
  const first = utcMonthOf(options.now ?? Date.now());
  const blocked: string[] = [];
  for (let i = 0; i <= (options.ahead ?? 2); i++) {
    const month = addUtcMonths(first, i);
    const { rows } = await pool.query<{ name: string | null }>('SELECT tl_ledger_partition($1::date) AS name', [month]);
    if (rows[0]?.name === null) blocked.push(month.slice(0, 7));
  }
  return blocked;
}

/** A month of the ledger. */
export interface LedgerMonthInfo {
  /** 'YYYY-MM'. */
  month: string;
  /** `attached`: rows live in its partition; `archived`: detached by `archiveLedgerMonth`. */
  state: 'attached' | 'archived';
  /** Ledger rows (exact for attached months; as archived for archived ones). */
  events: number;
  /** Sessions whose ledger month it is (attached), or that were sealed by its archive. */
  sessions: number;
  /** Where an archived month's rows went. */
  destination: string | null;
}

/** Every ledger month, oldest first, and the rows in the default partition (0 when healthy). */
export async function listLedgerMonths(pool: Pool): Promise<{ months: LedgerMonthInfo[]; defaultRows: number }> {
  const { rows: parts } = await pool.query<{ name: string; month: string }>(
    `SELECT c.relname AS name, to_char(to_date(substr(c.relname, 16), 'YYYY_MM'), 'YYYY-MM-DD') AS month
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'applied_events'::regclass AND c.relname ~ '^applied_events_[0-9]{4}_[0-9]{2}$'`,
  );
  const months: LedgerMonthInfo[] = [];
  for (const p of parts) {
    const { rows } = await pool.query<{ events: string; sessions: string }>(
      `SELECT (SELECT count(*) FROM public.${p.name})::text AS events,
              (SELECT count(*) FROM ledger_sessions WHERE ledger_month = $1::date)::text AS sessions`,
      [p.month],
    );
    months.push({ month: p.month.slice(0, 7), state: 'attached', events: Number(rows[0]?.events), sessions: Number(rows[0]?.sessions), destination: null });
  }
  const { rows: archived } = await pool.query<{ month: string; events: string; sessions: string; destination: string | null }>(
    `SELECT to_char(ledger_month, 'YYYY-MM') AS month, events::text, sessions::text, destination FROM ledger_archives`,
  );
  for (const a of archived) months.push({ month: a.month, state: 'archived', events: Number(a.events), sessions: Number(a.sessions), destination: a.destination });
  months.sort((a, b) => (a.month < b.month ? -1 : a.month > b.month ? 1 : 0));
  const { rows: def } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM applied_events_default');
  return { months, defaultRows: Number(def[0]?.n ?? 0) };
}

/** What `archiveLedgerMonth` did. */
export interface ArchiveResult {
  month: string;
  /** Ledger rows that left the ledger with the month. */
  events: number;
  /** Sessions sealed: their rows in trace_sessions stay as they are, and are never recomputed. */
  sessions: number;
  /** The detached table holding the month's rows, or null when dropped. */
  table: string | null;
}

export interface ArchiveOptions {
  /** Days after the month's end before it may be archived (LEDGER_DEDUPE_WINDOW_DAYS). */
  dedupeWindowDays: number;
  /** Drop the detached table instead of keeping it for `pg_dump`. */
  drop?: boolean;
  /** The clock (epoch ms). */
  now?: number;
  /** Sessions sealed per ledger transaction (default 5,000). */
  chunkSize?: number;
  hooks?: LedgerHooks;
}

/**
 * Archives one month of the ledger:
 * 1. refuses a month that is not attached, that ended less than the dedupe window ago, that has
 *    rows in the default partition, or that has members of an open backfill;
 * 2. seals its sessions, a chunk at a time, each chunk in a ledger transaction holding the
 *    sessions' locks (the concurrency rule): `archived` is set and their ledger month cleared, so
 *    a fold that comes after puts their new events in the current month and never recomputes them;
 * 3. deletes the month's event keys and backfill memberships, then detaches the partition (a
 *    short exclusive lock on `applied_events`, retried) and keeps it as
 *    `applied_events_YYYY_MM_archived` for `pg_dump`, or drops it.
 * Billing and analytics do not change: they read trace_sessions, which keeps every total.
 */
export async function archiveLedgerMonth(pool: Pool, month: string, options: ArchiveOptions): Promise<ArchiveResult> {
  const first = parseMonth(month);
  // One archive at a time: held on a connection of its own for the whole archive.
  const lock = await pool.connect();
  try {
    const { rows } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [ARCHIVE_LOCK_KEY]);
    if (rows[0]?.ok !== true) throw new TraceLedgerError('TL_LEDGER_ARCHIVE_BUSY', 'another ledger archive is running; try again when it has finished');
    try {
      return await archive(pool, month, first, options);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [ARCHIVE_LOCK_KEY]);
    }
  } finally {
    lock.release();
  }
}

/** Advisory lock key of `ledger archive` ("tl-archv" in ASCII). */
const ARCHIVE_LOCK_KEY = '8389130102438586486';

async function archive(pool: Pool, month: string, first: string, options: ArchiveOptions): Promise<ArchiveResult> {
  const name = partitionName(first);
  const now = options.now ?? Date.now();
  const end = new Date(`${addUtcMonths(first, 1)}T00:00:00Z`).getTime();
  const { rows: attached } = await pool.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'applied_events'::regclass AND c.relname = $1) AS ok`,
    [name],
  );
  if (attached[0]?.ok !== true) throw new TraceLedgerError('TL_LEDGER_MONTH_NOT_FOUND', `the ledger has no attached partition for ${month} (traceledger ledger months lists them)`);
  const earliest = end + options.dedupeWindowDays * DAY_MS;
  if (now < earliest) {
    throw new TraceLedgerError(
      'TL_LEDGER_ARCHIVE_TOO_RECENT',
      `${month} may be archived from ${new Date(earliest).toISOString().slice(0, 10)}: ${options.dedupeWindowDays} days (LEDGER_DEDUPE_WINDOW_DAYS) after the month ends, so no record of it is still on the topic or retried by a producer`,
    );
  }
  const { rows: def } = await pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM applied_events_default WHERE ledger_month >= $1::date AND ledger_month < $2::date`,
    [first, addUtcMonths(first, 1)],
  );
  if (Number(def[0]?.n) > 0) throw new TraceLedgerError('TL_LEDGER_ARCHIVE_REFUSED', `${def[0]?.n} ledger rows of ${month} are in applied_events_default; move them into the month's partition first`);
  const { rows: open } = await pool.query<{ backfill_id: string }>(
    `SELECT DISTINCT b.backfill_id FROM backfills b JOIN backfill_events m ON m.backfill_id = b.backfill_id
     JOIN ${name} a ON a.tenant_id = m.tenant_id AND a.session_id = m.session_id AND a.event_id = m.event_id
     WHERE b.state = 'open' ORDER BY 1 LIMIT 5`,
  );
  if (open.length > 0) throw new TraceLedgerError('TL_LEDGER_ARCHIVE_REFUSED', `${month} holds events of open backfills (${open.map((r) => r.backfill_id).join(', ')}); close or revert them first`);

  let sessions = 0;
  // One pass over ledger_sessions in key order (its primary key), a chunk after the last one sealed:
  // no session of the month is missed (new sessions take the current month, never this one).
  let after: SessionRef | null = null;
  for (;;) {
    const { rows } = await pool.query<{ tenant_id: string; session_id: string }>(
      `SELECT tenant_id, session_id FROM ledger_sessions
       WHERE ledger_month = $1::date AND ($2::text IS NULL OR (tenant_id, session_id) > ($2::text, $3::text))
       ORDER BY tenant_id, session_id LIMIT $4`,
      [first, after?.tenantId ?? null, after?.sessionId ?? null, options.chunkSize ?? 5000],
    );
    if (rows.length === 0) break;
    const chunk: SessionRef[] = rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
    after = chunk[chunk.length - 1] as SessionRef;
    sessions += await inLedgerTransaction(
      pool,
      async (tx) => {
        await tx.lockSessions(chunk);
        const { rowCount } = await tx.query(
          `UPDATE ledger_sessions s SET ledger_month = NULL, archived = true FROM unnest($1::text[], $2::text[]) AS k(t, sid)
           WHERE s.tenant_id = k.t AND s.session_id = k.sid AND s.ledger_month = $3::date`,
          [chunk.map((s) => s.tenantId), chunk.map((s) => s.sessionId), first],
        );
        return rowCount ?? 0;
      },
      options.hooks,
    );
  }

  // No fold writes to the month any more: every session of it is sealed, and new sessions take
  // the current month. Its keys and memberships go; then the partition itself.
  const { rows: counted } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${name}`);
  const events = Number(counted[0]?.n ?? 0);
  await pool.query(`DELETE FROM backfill_events m USING ${name} a WHERE m.tenant_id = a.tenant_id AND m.event_id = a.event_id AND m.session_id = a.session_id`);
  // Found through the month's own rows (primary-key probes), not by scanning every month's keys.
  await pool.query(
    `DELETE FROM applied_event_keys k USING ${name} a WHERE k.tenant_id = a.tenant_id AND k.event_id = a.event_id AND k.ledger_month = $1::date`,
    [first],
  );
  const kept = `${name}_archived`;
  await detach(pool, name);
  if (options.drop === true) await pool.query(`DROP TABLE ${name}`);
  else await pool.query(`ALTER TABLE ${name} RENAME TO ${kept}`);
  const table = options.drop === true ? null : `public.${kept}`;
  await pool.query(
    `INSERT INTO ledger_archives (ledger_month, events, sessions, destination) VALUES ($1::date, $2, $3, $4)
     ON CONFLICT (ledger_month) DO UPDATE SET events = ledger_archives.events + EXCLUDED.events,
       sessions = ledger_archives.sessions + EXCLUDED.sessions, destination = EXCLUDED.destination, archived_at = now()`,
    [first, events, sessions, table ?? 'dropped'],
  );
  return { month, events, sessions, table };
}

/** DETACH PARTITION takes an exclusive lock on `applied_events`: wait at most 5 s for it, a few times. */
async function detach(pool: Pool, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query("SET lock_timeout = '5s'");
      await client.query(`ALTER TABLE applied_events DETACH PARTITION ${name}`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03' || attempt >= 12) throw err;
    } finally {
      await client.query('RESET lock_timeout').catch(() => undefined);
      client.release();
    }
  }
}
