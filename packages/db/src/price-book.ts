import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PriceBook, formatMoney, parseMoney, parsePriceBookFile, type PriceEntry } from '@traceledger/core';
import type { Pool, PoolClient } from 'pg';
import { inLedgerTransaction, type LedgerHooks } from './ledger/tx.js';

/** The repository's price-book folder (`prices/*.json`). */
export const PRICES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../prices');

/** Reads and checks every `*.json` price-book file in `dir`. */
export function readPriceFiles(dir: string = PRICES_DIR): PriceEntry[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => parsePriceBookFile(JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown, f));
}

/**
 * Stores price-book entries in `price_book`. Entries already stored (same version, provider,
 * model and effective date) are left as they are: a version is immutable once loaded. New
 * entries are stored under the exclusive price-book lock and bump the book's generation, so
 * every fold that starts afterwards prices with them and every fold that read the old book has
 * committed first (docs/architecture.md, "One concurrency rule").
 */
export async function storePriceEntries(pool: Pool, entries: readonly PriceEntry[], hooks?: LedgerHooks): Promise<number> {
  if (entries.length === 0) return 0;
  // Nothing new (the usual start of a service): no exclusive lock, no waiting for the folds.
  if ((await missingEntries(pool, entries)) === 0) return 0;
  const rows = entries.map((e) => ({
    version: e.version,
    provider: e.provider ?? '*',
    model: e.model,
    effective_from: new Date(e.effectiveFromMs).toISOString(),
    input_per_million: formatMoney(e.inputPerMillion),
    output_per_million: formatMoney(e.outputPerMillion),
    cached_input_per_million: formatMoney(e.cachedInputPerMillion),
    reasoning_per_million: formatMoney(e.reasoningPerMillion),
  }));
  return inLedgerTransaction(pool, async (tx) => {
    const { rowCount } = await tx.query(
    `INSERT INTO price_book (version, provider, model, effective_from, input_per_million, output_per_million,
        cached_input_per_million, reasoning_per_million)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(version text, provider text, model text, effective_from timestamptz,
        input_per_million numeric, output_per_million numeric, cached_input_per_million numeric, reasoning_per_million numeric)
     ON CONFLICT DO NOTHING`,
      [JSON.stringify(rows)],
    );
    if ((rowCount ?? 0) > 0) await tx.query('UPDATE price_book_state SET generation = generation + 1');
    return rowCount ?? 0;
  }, hooks, { priceBook: 'exclusive' });
}

async function missingEntries(pool: Pool, entries: readonly PriceEntry[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS k(v, p, m, f)
     WHERE NOT EXISTS (SELECT 1 FROM price_book b WHERE b.version = k.v AND b.provider = k.p AND b.model = k.m AND b.effective_from = k.f)`,
    [entries.map((e) => e.version), entries.map((e) => e.provider ?? '*'), entries.map((e) => e.model), entries.map((e) => new Date(e.effectiveFromMs).toISOString())],
  );
  return rows[0]?.n ?? 0;
}

/** The whole stored price book (through a pool or inside a transaction). */
export async function loadPriceBook(pool: Pool | PoolClient): Promise<PriceBook> {
  return new PriceBook(await loadPriceEntries(pool));
}

/** Every stored price-book entry. */
export async function loadPriceEntries(pool: Pool | PoolClient): Promise<PriceEntry[]> {
  const { rows } = await pool.query<{
    version: string;
    provider: string;
    model: string;
    from_ms: string;
    input: string;
    output: string;
    cached: string;
    reasoning: string;
  }>(
    `SELECT version, provider, model, (extract(epoch FROM effective_from) * 1000)::bigint::text AS from_ms,
            input_per_million::text AS input, output_per_million::text AS output,
            cached_input_per_million::text AS cached, reasoning_per_million::text AS reasoning
     FROM price_book`,
  );
  return rows.map((r) => ({
      version: r.version,
      provider: r.provider === '*' ? null : r.provider,
      model: r.model,
      effectiveFromMs: Number(r.from_ms),
      inputPerMillion: parseMoney(r.input),
      outputPerMillion: parseMoney(r.output),
      cachedInputPerMillion: parseMoney(r.cached),
      reasoningPerMillion: parseMoney(r.reasoning),
    }));
}
