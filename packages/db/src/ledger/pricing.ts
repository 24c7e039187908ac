import { reportedCostOnly, type PriceBook, type PriceOf } from '@traceledger/core';
import { loadPriceBook } from '../price-book.js';
import type { LedgerTx } from './tx.js';

/**
 * How a fold prices new usage events. The fold calls `priceOf` right after taking the shared
 * price-book lock, with the generation it read under that lock, so it prices with every version
 * published before it started.
 */
export interface Pricing {
  priceOf(tx: LedgerTx, generation: bigint): Promise<PriceOf>;
}

/** Bills reported costs only (no price book): tests and tools that do not price. */
export const reportedOnly: Pricing = { priceOf: async () => reportedCostOnly };

/** Prices with a fixed function, whatever the stored book says (tests of something else). */
export function fixedPricing(priceOf: PriceOf): Pricing {
  return { priceOf: async () => priceOf };
}

/**
 * The stored price book, kept in memory and reloaded (inside the fold's transaction) whenever
 * its generation moved, e.g. after `reprice` stored a restated version.
 */
export function bookPricing(initial?: { book: PriceBook; generation: bigint }): Pricing & { readonly book: PriceBook | null } {
  let book = initial?.book ?? null;
  let generation = initial?.generation ?? -1n;
  return {
    get book() {
      return book;
    },
    async priceOf(tx, current) {
      if (book === null || current !== generation) {
        book = await loadPriceBook(tx.client);
        generation = current;
      }
      const b = book;
      return (e) => b.price(e);
    },
  };
}
