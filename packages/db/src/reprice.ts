import type { Pool } from 'pg';
import { formatMoney, parseMoney, traceEvent, type PriceBook, type TraceEvent } from '@traceledger/core';
import { recomputeSessions } from './ledger/recompute.js';
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

interface Candidate {
  tenant_id: string;
  event_id: string;
  session_id: string;
  occurred_ms: string;
  provider: string | null;
  model: string | null;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
  reasoning_tokens: string;
  cost: string | null;
  price_version: string | null;
  counts: boolean;
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
           FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, event_id text, cost numeric, version text)
           WHERE a.tenant_id = x.tenant_id AND a.event_id = x.event_id`,
          [JSON.stringify(changes.map((c) => ({ tenant_id: c.tenantId, event_id: c.eventId, cost: formatMoney(c.newNanos ?? 0n), version: c.version })))],
        );
        await recomputeSessions(tx, changes);
      }
      return summarise(changes, stillUnpriced);
    },
    hooks,
  );
}

const CANDIDATE = `type = 'llm.usage' AND (cost_source = 'book' OR cost IS NULL)
  AND occurred_at >= $1 AND occurred_at < $2 AND ($3::text IS NULL OR tenant_id = $3)`;

async function candidateSessions(tx: LedgerTx, options: { from: Date; to: Date; tenantId?: string }): Promise<{ tenantId: string; sessionId: string }[]> {
  const { rows } = await tx.query<{ tenant_id: string; session_id: string }>(
    `SELECT DISTINCT tenant_id, session_id FROM applied_events WHERE ${CANDIDATE}`,
    [options.from.toISOString(), options.to.toISOString(), options.tenantId ?? null],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
}

/** Usage events of the range that the book may re-price (of `sessions` only, when given). */
async function candidates(
  db: Pool | LedgerTx,
  options: { from: Date; to: Date; tenantId?: string },
  sessions?: readonly { tenantId: string; sessionId: string }[],
): Promise<Candidate[]> {
  const params: unknown[] = [options.from.toISOString(), options.to.toISOString(), options.tenantId ?? null];
  let scope = '';
  if (sessions !== undefined) {
    params.push(sessions.map((s) => s.tenantId), sessions.map((s) => s.sessionId));
    scope = ' AND (tenant_id, session_id) IN (SELECT * FROM unnest($4::text[], $5::text[]))';
  }
  const { rows } = await (db instanceof LedgerTx ? db.client : db).query<Candidate>(
    `SELECT tenant_id, event_id, session_id, (extract(epoch FROM occurred_at) * 1000)::bigint::text AS occurred_ms, provider, model,
            input_tokens::text, output_tokens::text, cached_input_tokens::text, reasoning_tokens::text, cost::text, price_version,
            (NOT staged AND voided_by IS NULL AND replaced_by IS NULL) AS counts
     FROM applied_events WHERE ${CANDIDATE}${scope}
     ORDER BY tenant_id, event_id`,
    params,
  );
  return rows;
}

function plan(book: PriceBook, rows: readonly Candidate[]): { changes: Change[]; stillUnpriced: Map<string, number> } {
  const changes: Change[] = [];
  const stillUnpriced = new Map<string, number>();
  for (const r of rows) {
    const priced = book.price(candidateEvent(r));
    const oldNanos = r.cost === null ? null : parseMoney(r.cost);
    const newNanos = priced?.costNanos ?? null;
    const model = r.model ?? '(unknown)';
    if (newNanos === null) {
      const k = `${r.tenant_id}\u0000${model}`;
      stillUnpriced.set(k, (stillUnpriced.get(k) ?? 0) + 1);
      continue;
    }
    if (oldNanos === newNanos && r.price_version === priced?.priceVersion) continue;
    changes.push({ tenantId: r.tenant_id, eventId: r.event_id, sessionId: r.session_id, model, oldNanos, newNanos, version: priced?.priceVersion ?? null, counts: r.counts });
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

function candidateEvent(r: Candidate): TraceEvent {
  return traceEvent({
    eventId: r.event_id,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    type: 'llm.usage',
    occurredAtMs: Number(r.occurred_ms),
    provider: r.provider,
    model: r.model,
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    cachedInputTokens: Number(r.cached_input_tokens),
    reasoningTokens: Number(r.reasoning_tokens),
  });
}
