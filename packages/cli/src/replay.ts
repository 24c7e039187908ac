import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { EventCodec } from '@traceledger/contract';
import { TraceLedgerError, parseTimeOrDate, utcMidnight } from '@traceledger/core';
import { foldIntoShadow, loadPriceBook, prepareShadow, swapReplay, type Pool, type SourcedEvent } from '@traceledger/db';
import type { InRecord, RangeStart } from '@traceledger/kafka';
import { UsageError, type Output } from './output.js';

export const REPLAY_HELP = `traceledger replay: rebuild sessions from the Kafka topic

  traceledger replay --from TIME|earliest [--to TIME] [--tenant T]

Reads the topic from --from (the first record at or after that time, or the earliest retained
record) up to where it ends when the replay starts, with a consumer group of its own, and folds the
records into a shadow ledger with the current code and price book. Then, in one transaction, it
swaps the re-derived events in and recomputes every session they touch: dashboards see the old
answer until that moment and the new one after it, never half. The live consumer keeps running;
what it folds meanwhile is kept. An interrupted replay leaves the live tables untouched; run it
again. --to skips records published at or after TIME; --tenant replays one tenant only.`;

export interface ReplayDeps {
  databaseUrl: string;
  codec: EventCodec;
  read: (groupId: string, start: RangeStart, handler: (records: readonly InRecord[]) => Promise<void>) => Promise<{ records: number }>;
}

/** `traceledger replay …` */
export async function replayCommand(pool: Pool, deps: ReplayDeps, args: string[], out: Output): Promise<void> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, tenant: { type: 'string' } } });
  if (!values.from) throw new UsageError('replay needs --from TIME or --from earliest', REPLAY_HELP);
  const start: RangeStart = values.from === 'earliest' ? { earliest: true } : { timestampMs: timeArg(values.from, 'from') };
  const toMs = values.to === undefined ? null : timeArg(values.to, 'to');
  const book = await loadPriceBook(pool);
  const shadow = await prepareShadow(pool, deps.databaseUrl);
  const started = Date.now();
  let folded = 0;
  let skipped = 0;
  let lastReport = 0;
  try {
    const read = await deps.read(`traceledger-replay-${randomBytes(4).toString('hex')}`, start, async (records) => {
      const batch: SourcedEvent[] = [];
      for (const r of records) {
        if (r.value === null || (toMs !== null && Number(r.timestamp) >= toMs)) {
          skipped++;
          continue;
        }
        let event;
        try {
          event = deps.codec.decode(r.value).event;
        } catch (err) {
          if (!(err instanceof TraceLedgerError)) throw err;
          skipped++; // unreadable: it is in the dead-letter topic, as it was live
          continue;
        }
        if (values.tenant !== undefined && event.tenantId !== values.tenant) {
          skipped++;
          continue;
        }
        const backfillId = r.headers['tl-backfill'];
        batch.push({ event, partition: r.partition, offset: r.offset, ...(backfillId ? { backfillId } : {}) });
      }
      await foldIntoShadow(shadow, batch, (e) => book.price(e));
      folded += batch.length;
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        out.progress(`replay: ${folded} events folded into the shadow, ${Math.round(folded / ((Date.now() - started) / 1000))} events/s`);
      }
    });
    out.progress(`replay: read ${read.records} records (${folded} folded, ${skipped} skipped); swapping in`);
    const swapped = await swapReplay(pool);
    const seconds = (Date.now() - started) / 1000;
    out.result({ ...swapped, records: read.records, skipped, seconds }, [
      `replayed ${read.records} records in ${seconds.toFixed(1)} s (${Math.round(read.records / Math.max(seconds, 0.001))} records/s): ${swapped.events} events re-derived, ${swapped.sessions} sessions recomputed and swapped in`,
    ]);
  } finally {
    await shadow.end();
  }
}

/** `--from` / `--to`: a date (UTC midnight) or an RFC 3339 time with a zone, on a real calendar day; a usage error (exit 2) otherwise. */
export function timeArg(value: string, name: string): number {
  try {
    return parseTimeOrDate(value, utcMidnight);
  } catch (err) {
    if (err instanceof TraceLedgerError) throw new UsageError(`--${name}: ${err.message}`, REPLAY_HELP);
    throw err;
  }
}
