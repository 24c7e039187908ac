import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { deadLetterRecord, decodeRecord, type EventCodec } from '@traceledger/contract';
import { TraceLedgerError, parseTimeOrDate, utcMidnight } from '@traceledger/core';
import { foldIntoShadow, isolateRefused, prepareShadow, swapReplay, dropShadow, type Pool, type SourcedEvent } from '@traceledger/db';
import type { InRecord, OutMessage, RangeStart } from '@traceledger/kafka';
import { UsageError, type Output } from './output.js';

export const REPLAY_HELP = `traceledger replay: rebuild sessions from the Kafka topic

  traceledger replay --from TIME|earliest [--to TIME] [--tenant T]

Reads the topic from --from (the first record at or after that time, or the earliest retained
record) up to where it ends when the replay starts, with a consumer group of its own, and records
the events into a shadow ledger with the current code and price book, by the same rules as the live
consumer (a record of a reverted or unknown backfill is refused; one the database refuses goes to
the dead-letter topic with the reason, and the rest goes on). Then, in one transaction, it swaps the
re-derived events in and recomputes every session they touch: dashboards see the old answer until
that moment and the new one after it, never half. The live consumer keeps running; what it folds
meanwhile is kept. An interrupted replay leaves the live tables untouched; run it again.
--to skips records published at or after TIME; --tenant replays one tenant only.`;

export interface ReplayDeps {
  codec: EventCodec;
  read: (groupId: string, start: RangeStart, handler: (records: readonly InRecord[]) => Promise<void>) => Promise<{ records: number }>;
  /** Publishes records the database refuses to the dead-letter topic. */
  deadLetters: (messages: OutMessage[]) => Promise<void>;
}

/** `traceledger replay …` */
export async function replayCommand(pool: Pool, deps: ReplayDeps, args: string[], out: Output): Promise<void> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, tenant: { type: 'string' } } });
  if (!values.from) throw new UsageError('replay needs --from TIME or --from earliest', REPLAY_HELP);
  const start: RangeStart = values.from === 'earliest' ? { earliest: true } : { timestampMs: timeArg(values.from, 'from') };
  const toMs = values.to === undefined ? null : timeArg(values.to, 'to');
  const shadow = await prepareShadow(pool);
  const started = Date.now();
  let recorded = 0;
  let skipped = 0;
  const refusedBy: Record<string, number> = {};
  let lastReport = 0;
  let swapped = false;
  try {
    const read = await deps.read(`traceledger-replay-${randomBytes(4).toString('hex')}`, start, async (records) => {
      const batch: { record: InRecord; sourced: SourcedEvent }[] = [];
      for (const r of records) {
        if (toMs !== null && Number(r.timestamp) >= toMs) {
          skipped++;
          continue;
        }
        const d = decodeRecord(deps.codec, r);
        // Unreadable: it went to the dead-letter topic when the live consumer read it.
        if (!d.ok || (values.tenant !== undefined && d.event.tenantId !== values.tenant)) {
          skipped++;
          continue;
        }
        batch.push({ record: r, sourced: { event: d.event, partition: r.partition, offset: r.offset, ...(d.backfillId === null ? {} : { backfillId: d.backfillId }) } });
      }
      const { results, refused } = await isolateRefused(batch, (subset) => foldIntoShadow(pool, shadow, subset.map((b) => b.sourced)));
      for (const { result } of results) {
        recorded += result.recorded;
        for (const x of result.refused) refusedBy[x.code] = (refusedBy[x.code] ?? 0) + 1;
      }
      if (refused.length > 0) {
        refusedBy['TL_RECORD_REFUSED_BY_DATABASE'] = (refusedBy['TL_RECORD_REFUSED_BY_DATABASE'] ?? 0) + refused.length;
        await deps.deadLetters(
          refused.map((x) =>
            deadLetterRecord(x.item.record, { code: 'TL_RECORD_REFUSED_BY_DATABASE', reason: `the database refused the record during a replay: ${x.reason}`, ...(x.sqlstate === null ? {} : { sqlstate: x.sqlstate }) }),
          ),
        );
      }
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now();
        out.progress(`replay: ${recorded} events recorded in the shadow, ${Math.round(recorded / ((Date.now() - started) / 1000))} events/s`);
      }
    });
    const refusedTotal = Object.values(refusedBy).reduce((a, b) => a + b, 0);
    out.progress(`replay: read ${read.records} records (${recorded} events recorded, ${skipped} skipped, ${refusedTotal} refused); swapping in`);
    const result = await swapReplay(pool, shadow);
    swapped = true;
    const seconds = (Date.now() - started) / 1000;
    out.result({ ...result, records: read.records, skipped, refused: refusedBy, seconds }, [
      `replayed ${read.records} records in ${seconds.toFixed(1)} s (${Math.round(read.records / Math.max(seconds, 0.001))} records/s): ${result.events} events re-derived, ${result.sessions} sessions recomputed and swapped in${result.sealed > 0 ? ` (${result.sealed} sessions with archived ledger months left as they were)` : ''}`,
      ...Object.entries(refusedBy).map(([code, n]) => `refused ${n} record(s): ${code}`),
    ]);
  } finally {
    if (!swapped) await dropShadow(pool).catch(() => undefined);
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
