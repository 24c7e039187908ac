import { parseArgs } from 'node:util';
import { PriceBook, TraceLedgerError, parseTimeOrDate, utcMidnight } from '@traceledger/core';
import { loadPriceBook, loadPriceEntries, readPriceFiles, reprice, storePriceEntries, type Pool } from '@traceledger/db';
import { UsageError, type Output } from './output.js';

export const REPRICE_HELP = `traceledger reprice: re-price history after a price-book change

  traceledger reprice --from TIME --to TIME [--tenant T] [--dry-run]

Stores the price-book files (PRICES_DIR, default prices/*.json; new versions only) — from then on
the consumer prices every new event with them — then recomputes the cost of every usage event that
occurred in [from, to) and was priced from the book, or could not be priced, counting or not.
A cost the producer reported is never changed. Prints the difference per tenant and model (and how
many of those events do not count now: staged, voided or set aside), then applies it in one
transaction (sessions, billing and analytics move together); --dry-run only prints, and stores
nothing. TIME is an RFC 3339 time or a date (UTC midnight).`;

/** `--from` / `--to`: a date (UTC midnight) or an RFC 3339 time with a zone, on a real calendar day; a usage error (exit 2) otherwise. */
export function parseTimeArg(value: string | undefined, name: string): Date {
  if (value === undefined) throw new UsageError(`reprice needs --${name}`, REPRICE_HELP);
  try {
    return new Date(parseTimeOrDate(value, utcMidnight));
  } catch (err) {
    if (err instanceof TraceLedgerError) throw new UsageError(`--${name}: ${err.message}`, REPRICE_HELP);
    throw err;
  }
}

/** `traceledger reprice …` */
export async function repriceCommand(pool: Pool, args: string[], out: Output, options: { pricesDir?: string } = {}): Promise<void> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, tenant: { type: 'string' }, 'dry-run': { type: 'boolean' } } });
  const from = parseTimeArg(values.from, 'from');
  const to = parseTimeArg(values.to, 'to');
  if (from.getTime() >= to.getTime()) throw new UsageError('--from must be before --to', REPRICE_HELP);
  const dryRun = values['dry-run'] === true;
  const files = readPriceFiles(options.pricesDir);
  let book: PriceBook;
  if (dryRun) {
    book = new PriceBook([...(await loadPriceEntries(pool)), ...files]);
    out.progress(`price book: ${book.size} entries (stored and files; nothing stored on a dry run)`);
  } else {
    const added = await storePriceEntries(pool, files);
    book = await loadPriceBook(pool);
    out.progress(`price book: ${book.size} entries (${added} new)`);
  }
  const plan = await reprice(pool, book, { from, to, apply: !dryRun, ...(values.tenant ? { tenantId: values.tenant } : {}) });
  out.result({ dryRun, ...plan }, [
    'tenant\tmodel\tevents\tnewly priced\tnot counting\tstill unpriced\told cost\tnew cost\tdifference',
    ...plan.lines.map((l) => `${l.tenantId}\t${l.model}\t${l.events}\t${l.newlyPriced}\t${l.notCounting}\t${l.stillUnpriced}\t${l.oldCost}\t${l.newCost}\t${l.difference}`),
    dryRun
      ? `dry run: ${plan.events} event(s) in ${plan.sessions} session(s) would change; nothing was written`
      : `applied: ${plan.events} event(s) in ${plan.sessions} session(s) re-priced in one transaction`,
  ]);
}
