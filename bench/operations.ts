/**
 * Throughput of the operator paths at scale (issue 6): a backfill of N events (default 1,000,000)
 * loaded through the contract into Kafka, staged by the consumer, closed; then a replay of the
 * whole topic into the shadow ledger and its swap. Real broker (KAFKA_BROKERS, default the local
 * one), a fresh database and topic of its own, the consumer in-process.
 *
 *   npm run bench -- --only operations [--events 1000000] [--database-url URL]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadFile } from '@traceledger/cli/backfill';
import { EventCodec, decodeRecord } from '@traceledger/contract';
import { TraceLedgerError } from '@traceledger/core';
import { buildConsumerService } from '@traceledger/consumer';
import {
  closeBackfill,
  createBackfill,
  createPool,
  dropDatabase,
  bookPricing,
  foldIntoShadow,
  migrate,
  prepareShadow,
  readPriceFiles,
  storePriceEntries,
  swapReplay,
  verifyLedger,
} from '@traceledger/db';
import { createKafka } from '@traceledger/kafka';
import { createLogger } from '@traceledger/logging';

export const name = 'operations';
export const summary = 'backfill load, consumer staging, close, replay and verify throughput at 1M events';

export async function run(argv: string[]): Promise<string> {
  const { values } = parseArgs({ args: argv, options: { events: { type: 'string', default: '1000000' }, 'database-url': { type: 'string' } }, strict: false });
  const events = Number(values.events);
  if (!Number.isInteger(events) || events < 1000) throw new TraceLedgerError('TL_BENCH_BAD_OPTION', '--events must be a whole number >= 1000');
  const id = randomBytes(4).toString('hex');
  const base = new URL(typeof values['database-url'] === 'string' ? values['database-url'] : 'postgres://postgres@127.0.0.1:5432/postgres');
  base.pathname = `/tl_bench_pipeline_${id}`;
  const databaseUrl = base.toString();
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const topic = `tl-bench-${id}`;
  const logger = createLogger({ service: 'bench-pipeline', level: 'warn', destination: process.stderr });
  const say = (s: string) => process.stderr.write(`bench pipeline: ${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'tl-bench-'));
  await migrate(databaseUrl);
  const pool = createPool(databaseUrl, { max: 4 });
  const kafka = createKafka({ brokers, clientId: 'tl-bench', logger });
  await kafka.ensureTopics([{ topic, partitions: 3 }, { topic: `${topic}.dlq`, partitions: 1 }]);
  await storePriceEntries(pool, readPriceFiles());
  const codec = EventCodec.fromDirectory();
  const rows: string[] = [];
  const line = (what: string, n: number, ms: number) => rows.push(`| ${what} | ${n.toLocaleString('en')} | ${(ms / 1000).toFixed(1)} | ${Math.round(n / (ms / 1000)).toLocaleString('en')} |`);
  try {
    say(`writing ${events} events to an NDJSON file`);
    const file = join(dir, 'events.ndjson');
    const t0 = Date.UTC(2025, 0, 1);
    const lines: string[] = [];
    for (let i = 0; i < events; i++) {
      lines.push(JSON.stringify({
        event_id: `e${i}`, session_id: `s${i % (events / 100)}`, agent_id: `agent-${i % 1000}`, team_id: `team-${i % 50}`, type: 'llm.usage',
        occurred_at: new Date(t0 + i * 1000).toISOString(), provider: 'openai', model: i % 3 === 0 ? 'gpt-4o-mini' : 'gpt-4o', input_tokens: 100 + (i % 900), output_tokens: 10 + (i % 90),
      }));
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    lines.length = 0;

    const consumer = buildConsumerService({ consumer: kafka.consumer({ groupId: `tl-bench-${id}` }), deadLetters: kafka.publisher(), pool, codec, logger, pricing: bookPricing() }, { topic, deadLetterTopic: `${topic}.dlq` });
    await consumer.start();
    const publisher = kafka.publisher();
    await publisher.connect();
    const backfill = await createBackfill(pool, { tenantId: 'bench' });
    const quiet = { result: () => undefined, progress: (s: string) => (s.startsWith('\r') ? undefined : say(s)) };

    let t = Date.now();
    await loadFile(pool, publisher, topic, { backfillId: backfill.backfillId, file, rate: null, rejectsPath: join(dir, 'rejects') }, quiet);
    line('backfill load (validate, encode, publish, checkpoint)', events, Date.now() - t);
    const loadDone = Date.now();
    for (;;) {
      const { rows: r } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM backfill_events WHERE backfill_id = $1', [backfill.backfillId]);
      if ((r[0]?.n ?? 0) >= events) break;
      if (Date.now() - loadDone > 30 * 60_000) throw new Error('consumer did not stage every event within 30 minutes');
      await new Promise((res) => setTimeout(res, 500));
    }
    line('consumer staging (from the start of the load until all are in the ledger)', events, Date.now() - t);
    t = Date.now();
    const closed = await closeBackfill(pool, backfill.backfillId);
    line(`backfill close (${closed.sessions.toLocaleString('en')} sessions recomputed in one transaction)`, events, Date.now() - t);
    await consumer.stop();
    await publisher.disconnect();

    t = Date.now();
    const shadow = await prepareShadow(pool);
    const read = await kafka.readRange(topic, { earliest: true }, async (records) => {
      const batch = records.flatMap((r) => {
        const d = decodeRecord(codec, r);
        return d.ok ? [{ event: d.event, partition: r.partition, offset: r.offset, ...(d.backfillId === null ? {} : { backfillId: d.backfillId }) }] : [];
      });
      await foldIntoShadow(pool, shadow, batch);
    });
    const readMs = Date.now() - t;
    line('replay: read the topic and fold into the shadow', read.records, readMs);
    const swapStart = Date.now();
    const swapped = await swapReplay(pool, shadow);
    line(`replay: swap (${swapped.sessions.toLocaleString('en')} sessions recomputed in one transaction)`, swapped.events, Date.now() - swapStart);
    line('replay end to end', read.records, Date.now() - t);

    t = Date.now();
    const verified = await verifyLedger(pool);
    if (verified.driftCount > 0) throw new TraceLedgerError('TL_BENCH_DRIFT', `verify found ${verified.driftCount} difference(s) after the run`);
    line(`verify (${verified.sessions.toLocaleString('en')} sessions recomputed from the ledger, rollups, per-model usage)`, verified.events, Date.now() - t);
  } finally {
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
    await dropDatabase(databaseUrl).catch(() => undefined);
  }
  return [
    `### pipeline benchmark: ${events.toLocaleString('en')} events, ${(events / 100).toLocaleString('en')} sessions, 3 partitions`,
    '',
    '| step | events | seconds | events/s |',
    '|---|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
