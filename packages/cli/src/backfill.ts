import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import { EventCodec, EventRejectedError, eventRecord, parseEvent } from '@traceledger/contract';
import { TraceLedgerError } from '@traceledger/core';
import { checkpointBackfill, closeBackfill, createBackfill, getBackfill, listBackfills, revertBackfill, type Backfill, type Pool } from '@traceledger/db';
import type { OutMessage, Publisher } from '@traceledger/kafka';
import { UsageError, type Output } from './output.js';

export const BACKFILL_HELP = `traceledger backfill: staged imports of historical events

  traceledger backfill create --tenant T [--label L] [--replace]
      Opens a backfill. With --replace, closing it replaces every other event of the sessions
      it covers instead of adding to them.
  traceledger backfill load ID FILE.ndjson[.gz] [--rate EVENTS_PER_S] [--rejects PATH]
      Checks each line against the event contract (bad lines go to PATH, default FILE.rejects.ndjson,
      with line number and reason) and publishes the rest to the topic, staged under ID. Resumes
      after the last line Kafka acknowledged when run again after Ctrl-C or a crash.
  traceledger backfill close ID      the staged events start to count (closing twice: no-op)
  traceledger backfill revert ID     removes the backfill's events entirely, restoring earlier totals
  traceledger backfill list [--tenant T] | status ID

Loaded events count in billing and analytics only once the backfill is closed.`;

const CHUNK_LINES = 500;

/** `traceledger backfill …`; `kafka` is made only for `load`. */
export async function backfillCommand(
  pool: Pool,
  kafka: () => Promise<{ publisher: Publisher; topic: string }>,
  args: string[],
  out: Output,
  isTty: boolean,
): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' }, label: { type: 'string' }, replace: { type: 'boolean' } } });
      if (!values.tenant) throw new UsageError('backfill create needs --tenant T', BACKFILL_HELP);
      const b = await createBackfill(pool, { tenantId: values.tenant, ...(values.label ? { label: values.label } : {}), replace: values.replace === true });
      out.result(b, [`created backfill ${b.backfillId} for tenant ${b.tenantId}${b.replace ? ' (replace mode)' : ''}`]);
      return;
    }
    case 'load': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { rate: { type: 'string' }, rejects: { type: 'string' } } });
      const [id, file] = positionals;
      if (!id || !file) throw new UsageError('backfill load needs ID and FILE', BACKFILL_HELP);
      const rate = values.rate === undefined ? null : Number(values.rate);
      if (rate !== null && (!Number.isFinite(rate) || rate <= 0)) throw new UsageError('--rate must be a positive number of events per second', BACKFILL_HELP);
      const { publisher, topic } = await kafka();
      try {
        const result = await loadFile(pool, publisher, topic, { backfillId: id, file, rate, rejectsPath: values.rejects ?? `${file}.rejects.ndjson` }, out, isTty);
        out.result(result, [
          `backfill ${id}: ${result.linesDone} lines read, ${result.eventsSent} events published, ${result.rejectedLines} rejected${result.rejectedLines > 0 ? ` (see ${result.rejectsPath})` : ''}`,
          `close it to make the events count: traceledger backfill close ${id}`,
        ]);
      } finally {
        await publisher.disconnect();
      }
      return;
    }
    case 'close': {
      const id = rest[0];
      if (!id) throw new UsageError('backfill close needs ID', BACKFILL_HELP);
      const r = await closeBackfill(pool, id);
      out.result(r, [r.alreadyClosed ? `backfill ${id} was already closed; nothing changed` : `closed backfill ${id}: ${r.events} events now count, ${r.sessions} sessions recomputed`]);
      return;
    }
    case 'revert': {
      const id = rest[0];
      if (!id) throw new UsageError('backfill revert needs ID', BACKFILL_HELP);
      const r = await revertBackfill(pool, id);
      out.result(r, [`reverted backfill ${id}: ${r.events} events removed, ${r.sessions} sessions recomputed`]);
      return;
    }
    case 'status': {
      const id = rest[0];
      if (!id) throw new UsageError('backfill status needs ID', BACKFILL_HELP);
      const b = await getBackfill(pool, id);
      out.result(b, [describe(b)]);
      return;
    }
    case 'list': {
      const { values } = parseArgs({ args: rest, options: { tenant: { type: 'string' } } });
      const all = await listBackfills(pool, values.tenant);
      out.result(all, all.map(describe));
      return;
    }
    default:
      throw new UsageError(sub === undefined ? '' : `unknown backfill command "${sub}"`, BACKFILL_HELP);
  }
}

function describe(b: Backfill): string {
  return `${b.backfillId}\t${b.tenantId}\t${b.state}${b.replace ? ' (replace)' : ''}\t${b.label ?? ''}\tlines ${b.linesDone}, sent ${b.eventsSent}, rejected ${b.rejectedLines}, in ledger ${b.events}\t${b.source ?? ''}`;
}

export interface LoadResult {
  linesDone: number;
  eventsSent: number;
  rejectedLines: number;
  rejectsPath: string;
  seconds: number;
}

function openLines(file: string): { lines: AsyncIterable<string>; stream: Readable } {
  const raw = createReadStream(file);
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  return { lines: createInterface({ input: stream, crlfDelay: Infinity }), stream };
}

/**
 * Publishes a file's valid lines as staged events of a backfill, CHUNK_LINES at a time; after
 * each chunk Kafka acknowledged, the checkpoint moves to its last line, so a rerun skips what is
 * durable. Lines between the checkpoint and a crash are published again: the fold deduplicates
 * them by event id.
 */
export async function loadFile(
  pool: Pool,
  publisher: Publisher,
  topic: string,
  options: { backfillId: string; file: string; rate: number | null; rejectsPath: string; now?: () => number },
  out: Output,
  isTty = false,
): Promise<LoadResult> {
  const b = await getBackfill(pool, options.backfillId);
  if (b.state !== 'open') throw new TraceLedgerError('TL_BACKFILL_STATE', `backfill ${b.backfillId} is ${b.state}; load into an open backfill`);
  if (b.source !== null && b.source !== options.file && b.linesDone > 0) {
    throw new TraceLedgerError('TL_BACKFILL_STATE', `backfill ${b.backfillId} was loading ${b.source}; finish it or create another backfill for ${options.file}`);
  }
  const resumeAfter = b.source === options.file ? b.linesDone : 0;
  const total = await countLines(options.file);
  const codec = EventCodec.fromDirectory();
  const now = options.now ?? Date.now;
  const started = Date.now();
  let rejects: WriteStream | null = null;
  let lineNo = 0;
  let eventsSent = b.eventsSent;
  let rejected = b.rejectedLines;
  let chunk: OutMessage[] = [];
  let lastReport = 0;
  let sentThisRun = 0;

  const flush = async (): Promise<void> => {
    if (chunk.length > 0) await publisher.publish(topic, chunk, 30_000);
    eventsSent += chunk.length;
    sentThisRun += chunk.length;
    chunk = [];
    await checkpointBackfill(pool, b.backfillId, { source: options.file, linesDone: lineNo, eventsSent, rejectedLines: rejected });
    if (options.rate !== null) {
      const due = started + (sentThisRun / options.rate) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    const t = Date.now();
    if (isTty || t - lastReport > 5000 || lineNo === total) {
      lastReport = t;
      out.progress(progressLine(lineNo, total, sentThisRun, (t - started) / 1000, isTty));
    }
  };

  const { lines } = openLines(options.file);
  for await (const line of lines) {
    lineNo++;
    if (lineNo <= resumeAfter || line.trim() === '') continue;
    try {
      const event = parseEvent(JSON.parse(line) as unknown, b.tenantId, now());
      chunk.push(eventRecord(codec, event, now(), { backfillId: b.backfillId }));
    } catch (err) {
      const code = err instanceof EventRejectedError ? err.code : err instanceof SyntaxError ? 'TL_BACKFILL_BAD_JSON' : null;
      if (code === null) throw err;
      rejects ??= createWriteStream(options.rejectsPath, { flags: 'a' });
      if (!rejects.write(`${JSON.stringify({ line: lineNo, code, message: (err as Error).message })}\n`)) await once(rejects, 'drain');
      rejected++;
    }
    if (lineNo % CHUNK_LINES === 0) await flush();
  }
  await flush();
  if (rejects !== null) {
    const r: WriteStream = rejects;
    await new Promise<void>((resolve) => r.end(resolve));
  }
  if (isTty) out.progress('');
  return { linesDone: lineNo, eventsSent, rejectedLines: rejected, rejectsPath: options.rejectsPath, seconds: (Date.now() - started) / 1000 };
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const _ of openLines(file).lines) n++;
  return n;
}

function progressLine(done: number, total: number, sent: number, seconds: number, tty: boolean): string {
  const rate = seconds > 0 ? sent / seconds : 0;
  const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
  const eta = rate > 0 && total > done ? Math.round((total - done) / rate) : 0;
  const text = `${done}/${total} lines (${pct.toFixed(1)}%), ${Math.round(rate)} events/s, ETA ${eta}s`;
  if (!tty) return `backfill: ${text}`;
  const width = 30;
  const filled = Math.round((pct / 100) * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\u001b[K`.replace(/\n$/, '');
}
