import type { Pool } from 'pg';
import { UNKNOWN_MODEL, formatMoney, type PriceBook } from '@traceledger/core';
import { recomputeSessions } from './ledger/recompute.js';
import { STORED_COLUMNS, storedEntry, type StoredEntry, type StoredRow } from './ledger/rows.js';
import { LedgerTx, inLedgerTransaction, type LedgerHooks } from './ledger/tx.js';

/** What re-pricing changes for one tenant and model. */
export interface RepriceLine {
  tenantId: string;
  model: string;
  /** Usage events whose cost changes (including ones priced for the first time). */
  events: number;
  /** Of those, events that were unpriced before. */
  newlyPriced: number;
  /** Of those, events that do not count now (staged, voided or set aside); re-priced for when they do. */
  notCounting: number;
  /** Events that stay unpriced (still no price for their model). */
  stillUnpriced: number;
  oldCost: string;
  newCost: string;
  difference: string;
}

export interface RepricePlan {
  lines: RepriceLine[];
  sessions: number;
  events: number;
}

interface Change {
  tenantId: string;
  eventId: string;
  sessionId: string;
  model: string;
  oldNanos: bigint | null;
  newNanos: bigint | null;
  version: string | null;
  counts: boolean;
}

/**
 * Re-prices usage events that occurred in [from, to) from `book`: events priced from the book
 * before and events that could not be priced, counting or not (a staged event is billed at the
 * restated price once it counts). A cost the producer reported is never touched. `book` must be
 * the stored book (the CLI stores new versions first, which every later fold also prices with).
 * With `apply: false` it only reports the difference per tenant and model; with `apply: true` it
 * locks the sessions concerned (the concurrency rule), re-reads their events under the locks,
 * changes the ledger and recomputes them in one ledger transaction, so billing and analytics move
 * from the old totals to the new ones at once.
 */
export async function reprice(
  pool: Pool,
  book: PriceBook,
  options: { from: Date; to: Date; tenantId?: string; apply: boolean },
  hooks?: LedgerHooks,
): Promise<RepricePlan> {
  if (!options.apply) {
    const { changes, stillUnpriced } = plan(book, await candidates(pool, options));
    return summarise(changes, stillUnpriced);
  }
  return inLedgerTransaction(
    pool,
    async (tx) => {
      const sessions = await candidateSessions(tx, options);
      await tx.lockSessions(sessions);
      const { changes, stillUnpriced } = plan(book, await candidates(tx, options, sessions));
      if (changes.length > 0) {
        await tx.query(
          `UPDATE applied_events a SET cost = x.cost, cost_source = 'book', price_version = x.version
           FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, session_id text, event_id text, cost numeric, version text)
           WHERE a.tenant_id = x.tenant_id AND a.session_id = x.session_id AND a.event_id = x.event_id`,
          [JSON.stringify(changes.map((c) => ({ tenant_id: c.tenantId, session_id: c.sessionId, event_id: c.eventId, cost: formatMoney(c.newNanos ?? 0n), version: c.version })))],
        );
        await recomputeSessions(tx, changes);
      }
      return summarise(changes, stillUnpriced);
    },
    hooks,
  );
}

// Sessions with archived ledger months are left as they are: their rows keep what the archived
// events contributed, which a recompute from what is left would lose (docs/scaling.md).
const CANDIDATE = `a.type = 'llm.usage' AND (a.cost_source = 'book' OR a.cost IS NULL)
  AND a.occurred_at >= $1 AND a.occurred_at < $2 AND ($3::text IS NULL OR a.tenant_id = $3)
  AND NOT EXISTS (SELECT 1 FROM ledger_sessions ls WHERE ls.tenant_id = a.tenant_id AND ls.session_id = a.session_id AND ls.archived)`;

async function candidateSessions(tx: LedgerTx, options: { from: Date; to: Date; tenantId?: string }): Promise<{ tenantId: string; sessionId: string }[]> {
  const { rows } = await tx.query<{ tenant_id: string; session_id: string }>(
    `SELECT DISTINCT a.tenant_id, a.session_id FROM applied_events a WHERE ${CANDIDATE}`,
    [options.from.toISOString(), options.to.toISOString(), options.tenantId ?? null],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
}

/** Usage events of the range that the book may re-price (of `sessions` only, when given). */
async function candidates(
  db: Pool | LedgerTx,
  options: { from: Date; to: Date; tenantId?: string },
  sessions?: readonly { tenantId: string; sessionId: string }[],
): Promise<StoredEntry[]> {
  const params: unknown[] = [options.from.toISOString(), options.to.toISOString(), options.tenantId ?? null];
  let scope = '';
  if (sessions !== undefined) {
    params.push(sessions.map((s) => s.tenantId), sessions.map((s) => s.sessionId));
    scope = ' AND (a.tenant_id, a.session_id) IN (SELECT * FROM unnest($4::text[], $5::text[]))';
  }
  const { rows } = await (db instanceof LedgerTx ? db.client : db).query<StoredRow>(
    `SELECT ${STORED_COLUMNS} FROM applied_events a WHERE ${CANDIDATE}${scope} ORDER BY a.tenant_id, a.event_id`,
    params,
  );
  return rows.map(storedEntry);
}

function plan(book: PriceBook, rows: readonly StoredEntry[]): { changes: Change[]; stillUnpriced: Map<string, number> } {
  const changes: Change[] = [];
  const stillUnpriced = new Map<string, number>();
  for (const { event, billed, marks } of rows) {
    const priced = book.price(event);
    const oldNanos = billed?.costNanos ?? null;
    const newNanos = priced?.costNanos ?? null;
    const model = event.model ?? UNKNOWN_MODEL;
    if (newNanos === null) {
      const k = `${event.tenantId}\u0000${model}`;
      stillUnpriced.set(k, (stillUnpriced.get(k) ?? 0) + 1);
      continue;
    }
    if (oldNanos === newNanos && (billed?.priceVersion ?? null) === priced?.priceVersion) continue;
    const counts = !marks.staged && marks.voidedBy === null && marks.replacedBy === null;
    changes.push({ tenantId: event.tenantId, eventId: event.eventId, sessionId: event.sessionId, model, oldNanos, newNanos, version: priced?.priceVersion ?? null, counts });
  }
  return { changes, stillUnpriced };
}

function summarise(changes: readonly Change[], stillUnpriced: Map<string, number>): RepricePlan {
  const lines = new Map<string, { tenantId: string; model: string; events: number; newlyPriced: number; notCounting: number; oldNanos: bigint; newNanos: bigint }>();
  for (const c of changes) {
    const k = `${c.tenantId}\u0000${c.model}`;
    const l = lines.get(k) ?? { tenantId: c.tenantId, model: c.model, events: 0, newlyPriced: 0, notCounting: 0, oldNanos: 0n, newNanos: 0n };
    l.events++;
    if (c.oldNanos === null) l.newlyPriced++;
    if (!c.counts) l.notCounting++;
    l.oldNanos += c.oldNanos ?? 0n;
    l.newNanos += c.newNanos ?? 0n;
    lines.set(k, l);
  }
  for (const k of stillUnpriced.keys()) {
    if (!lines.has(k)) {
      const [tenantId = '', model = ''] = k.split('\u0000');
      lines.set(k, { tenantId, model, events: 0, newlyPriced: 0, notCounting: 0, oldNanos: 0n, newNanos: 0n });
    }
  }
  return {
    events: changes.length,
    sessions: new Set(changes.map((c) => `${c.tenantId}\u0000${c.sessionId}`)).size,
    lines: [...lines.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, l]) => ({
        tenantId: l.tenantId,
        model: l.model,
        events: l.events,
        newlyPriced: l.newlyPriced,
        notCounting: l.notCounting,
        stillUnpriced: stillUnpriced.get(k) ?? 0,
        oldCost: formatMoney(l.oldNanos),
        newCost: formatMoney(l.newNanos),
        difference: formatMoney(l.newNanos - l.oldNanos),
      })),
  };
}
