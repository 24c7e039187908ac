import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { inTransaction } from '../transaction.js';
import { TraceLedgerError, compareIds, utcMonthOf, type BackfillInfo, type BackfillState } from '@traceledger/core';

/** A session, as the ledger locks and recomputes it. */
export interface SessionRef {
  tenantId: string;
  sessionId: string;
}

/** The key of a session in maps and sets. */
export function sessionRefKey(s: SessionRef): string {
  return `${s.tenantId}\u0000${s.sessionId}`;
}

/** Sessions without repeats, in the order every transaction locks them (bytewise, as COLLATE "C"). */
export function sortedSessions(sessions: Iterable<SessionRef>): SessionRef[] {
  const byKey = new Map<string, SessionRef>();
  for (const s of sessions) byKey.set(sessionRefKey(s), { tenantId: s.tenantId, sessionId: s.sessionId });
  return [...byKey.values()].sort((a, b) => compareIds(a.tenantId, b.tenantId) || compareIds(a.sessionId, b.sessionId));
}

/** Key of the price-book advisory lock ("tl-price" in ASCII). */
const PRICE_BOOK_LOCK_KEY = '8387229549946169189';

/**
 * Takes the price-book lock and reads the generation in two statements of one round trip: under
 * READ COMMITTED a statement reads the snapshot taken when it started, so a read in the locking
 * statement would miss a version stored while it waited for the lock.
 */
function priceBookLockSql(mode: 'shared' | 'exclusive'): string {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `SELECT ${fn}(${PRICE_BOOK_LOCK_KEY}); SELECT generation::text FROM price_book_state`;
}

/** The generation read by the last statement of a multi-statement query ending in priceBookLockSql. */
function generationOf(results: unknown): bigint {
  const last = (results as { rows: { generation?: string }[] }[]).at(-1);
  return BigInt(last?.rows[0]?.generation ?? '0');
}

const LOCK_CHUNK = 5000;

/** The lock levels, in the order a transaction may take them. */
const Level = { None: 0, PriceBook: 1, Backfills: 2, Sessions: 3 } as const;
type Level = (typeof Level)[keyof typeof Level];

/**
 * A transaction of the ledger. It enforces the concurrency rule of docs/architecture.md: locks
 * are taken price book → backfill rows → sessions, each level once and in ascending key order,
 * and a session's ledger rows are touched only while its lock is held. A call out of that order
 * is a bug and throws TL_LEDGER_LOCK_ORDER.
 */
export class LedgerTx {
  private level: Level = Level.None;
  /** The price-book generation read under the price-book lock, when the transaction took it. */
  generation: bigint | null = null;
  private readonly held = new Set<string>();
  private lastSession: SessionRef | null = null;
  /** The sessions' owners as locked (a closed replace-mode backfill, or null). */
  readonly owners = new Map<string, string | null>();
  /** The sessions' ledger months as locked ('YYYY-MM-01': the partition their rows go to). */
  readonly months = new Map<string, string>();
  /** Locked sessions part of whose ledger was archived: never recomputed (their rows keep what it counted). */
  readonly sealed = new Set<string>();

  /** @param now the ledger's clock: a new session's ledger month is the current UTC month. */
  constructor(
    readonly client: PoolClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** The ledger month of a locked session. */
  monthOf(s: SessionRef): string {
    const m = this.months.get(sessionRefKey(s));
    if (m === undefined) throw new TraceLedgerError('TL_LEDGER_LOCK_ORDER', `session ${s.tenantId}/${s.sessionId} is written without its lock`);
    return m;
  }

  query<R extends QueryResultRow = QueryResultRow>(sql: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }> {
    return this.client.query<R>(sql, values);
  }

  private enter(level: Level, what: string): void {
    if (this.level >= level) throw new TraceLedgerError('TL_LEDGER_LOCK_ORDER', `${what} taken after a lock of the same or a later level (docs/architecture.md, "One concurrency rule")`);
    this.level = level;
  }

  /**
   * Level 1: the price-book lock, shared by folds, exclusive while a price version is stored.
   * Returns the price-book generation as of the lock.
   */
  async lockPriceBook(mode: 'shared' | 'exclusive'): Promise<bigint> {
    this.enter(Level.PriceBook, 'the price-book lock');
    this.generation = generationOf(await this.client.query(priceBookLockSql(mode)));
    return this.generation;
  }

  /** Records the price-book lock taken by the transaction's first round trip (inLedgerTransaction). */
  lockedPriceBook(generation: bigint): void {
    this.enter(Level.PriceBook, 'the price-book lock');
    this.generation = generation;
  }

  /**
   * Level 2: backfill rows, FOR SHARE by a fold recording members of them (so a close or revert
   * cannot miss one), FOR UPDATE by close and revert. Returns what it found (unknown ids are absent).
   */
  async lockBackfills(ids: Iterable<string>, mode: 'share' | 'update'): Promise<Map<string, BackfillInfo>> {
    this.enter(Level.Backfills, 'backfill locks');
    const sorted = [...new Set(ids)].sort(compareIds);
    if (sorted.length === 0) return new Map();
    const { rows } = await this.query<BackfillRow>(
      `SELECT backfill_id, tenant_id, state, replace_mode, closed_seq::text FROM backfills
       WHERE backfill_id = ANY($1::text[]) ORDER BY backfill_id COLLATE "C" FOR ${mode === 'share' ? 'SHARE' : 'UPDATE'}`,
      [sorted],
    );
    return new Map(rows.map((r) => [r.backfill_id, backfillInfo(r)]));
  }

  /**
   * Level 3: the session locks, one `ledger_sessions` row each, in ascending order; more may be
   * added later only above the greatest held. Remembers each session's owner, its ledger month (a
   * new session, or one whose month was archived, takes the current month) and whether it is sealed.
   */
  async lockSessions(sessions: Iterable<SessionRef>): Promise<void> {
    const wanted = sortedSessions(sessions).filter((s) => !this.held.has(sessionRefKey(s)));
    if (wanted.length === 0) {
      if (this.level < Level.Sessions) this.level = Level.Sessions;
      return;
    }
    if (this.level === Level.Sessions) {
      const last = this.lastSession;
      const first = wanted[0] as SessionRef;
      if (last !== null && (compareIds(first.tenantId, last.tenantId) || compareIds(first.sessionId, last.sessionId)) < 0) {
        throw new TraceLedgerError('TL_LEDGER_LOCK_ORDER', 'session locks must be taken in one ascending pass');
      }
    } else {
      this.enter(Level.Sessions, 'session locks');
    }
    for (let i = 0; i < wanted.length; i += LOCK_CHUNK) {
      const chunk = wanted.slice(i, i + LOCK_CHUNK);
      const { rows } = await this.query<{ tenant_id: string; session_id: string; owner: string | null; month: string; archived: boolean }>(
        `INSERT INTO ledger_sessions AS s (tenant_id, session_id, ledger_month)
         SELECT t, sid, $3::date FROM unnest($1::text[], $2::text[]) AS k(t, sid) ORDER BY t COLLATE "C", sid COLLATE "C"
         ON CONFLICT (tenant_id, session_id) DO UPDATE SET changes = s.changes + 1, ledger_month = coalesce(s.ledger_month, EXCLUDED.ledger_month)
         RETURNING tenant_id, session_id, owner, to_char(ledger_month, 'YYYY-MM-DD') AS month, archived`,
        [chunk.map((s) => s.tenantId), chunk.map((s) => s.sessionId), utcMonthOf(this.now())],
      );
      for (const r of rows) {
        const k = sessionRefKey({ tenantId: r.tenant_id, sessionId: r.session_id });
        this.owners.set(k, r.owner);
        this.months.set(k, r.month);
        if (r.archived) this.sealed.add(k);
      }
      for (const s of chunk) this.held.add(sessionRefKey(s));
    }
    this.lastSession = wanted[wanted.length - 1] ?? this.lastSession;
  }

  /** Throws unless every session is locked by this transaction. */
  assertLocked(sessions: Iterable<SessionRef>): void {
    for (const s of sessions) {
      if (!this.held.has(sessionRefKey(s))) {
        throw new TraceLedgerError('TL_LEDGER_LOCK_ORDER', `session ${s.tenantId}/${s.sessionId} is read or written without its lock`);
      }
    }
  }
}

interface BackfillRow {
  backfill_id: string;
  tenant_id: string;
  state: BackfillState;
  replace_mode: boolean;
  closed_seq: string | null;
}

function backfillInfo(r: BackfillRow): BackfillInfo {
  return { backfillId: r.backfill_id, tenantId: r.tenant_id, state: r.state, replace: r.replace_mode, closedSeq: r.closed_seq === null ? null : BigInt(r.closed_seq) };
}

/** Backfills by id, without locking (recompute reads states that their writers recompute after). */
export async function readBackfills(tx: LedgerTx, ids: Iterable<string>): Promise<Map<string, BackfillInfo>> {
  const list = [...new Set(ids)];
  if (list.length === 0) return new Map();
  const { rows } = await tx.query<BackfillRow>(
    'SELECT backfill_id, tenant_id, state, replace_mode, closed_seq::text FROM backfills WHERE backfill_id = ANY($1::text[])',
    [list],
  );
  return new Map(rows.map((r) => [r.backfill_id, backfillInfo(r)]));
}

/** What `inLedgerTransaction` may be told to do at exact points (fault and history tests). */
export interface LedgerHooks {
  /** After the work, before the rollups are flushed and COMMIT is sent. */
  beforeCommit?(tx: LedgerTx): Promise<void>;
  /** The ledger's clock (epoch ms), which picks a new session's ledger month; tests place sessions in past months with it. */
  now?(): number;
}

/**
 * The one transaction helper of the ledger: BEGIN, rollup deltas deferred to one sorted flush
 * just before COMMIT (the last step of the concurrency rule), ROLLBACK on any error (inTransaction).
 */
export async function inLedgerTransaction<T>(
  pool: Pool,
  fn: (tx: LedgerTx) => Promise<T>,
  hooks?: LedgerHooks,
  options: { priceBook?: 'shared' | 'exclusive' } = {},
): Promise<T> {
  let tx: LedgerTx | null = null;
  return inTransaction(
    pool,
    async () => {
      if (tx === null) throw new Error('ledger transaction without its LedgerTx');
      const result = await fn(tx);
      await hooks?.beforeCommit?.(tx);
      return result;
    },
    {
      // One round trip: BEGIN, deferred rollups and, when asked, the price-book lock (level 1).
      begin: async (client) => {
        const ledgerTx = new LedgerTx(client, () => hooks?.now?.() ?? Date.now());
        tx = ledgerTx;
        const begin = "BEGIN; SET LOCAL traceledger.defer_rollup = 'on'";
        if (options.priceBook === undefined) await client.query(begin);
        else ledgerTx.lockedPriceBook(generationOf(await client.query(`${begin}; ${priceBookLockSql(options.priceBook)}`)));
      },
      // Rollup buckets last, in one sorted pass, then COMMIT, in one round trip; an error in the
      // flush skips the COMMIT and the ROLLBACK ends the transaction.
      commitSql: 'SELECT tl_rollup_flush(); COMMIT',
    },
  );
}
