/**
 * The whole pipeline at fixed offered rates, and the services' memory (issue 11):
 *
 *   npm run bench -- --only e2e [--rates 5000,10000,20000,30000,40000] [--seconds 30]
 *                    [--warmup-seconds 5] [--batch 100] [--soak-minutes 10] [--soak-rate 10000]
 *                    [--max-in-flight 64] [--probes-per-second 20] [--poll-ms 20]
 *                    [--probe-timeout-seconds 60] [--stop-p99-seconds 10]
 *                    [--catch-up-timeout-seconds 600] [--no-record]
 *
 * A fresh database (migrated), a topic of 3 partitions with its dead-letter topic and a consumer
 * group of the run's own; ingest, consumer and query each as its own Node process (their real
 * main.ts, API keys on, rate limits off, LOG_LEVEL=warn). This process offers each rate open-loop
 * (bench/e2e-load.ts) for a warm-up and then `seconds`, and measures per event the time from
 * ingest's 202 to the query API counting it, with probe events polled over HTTP. Between rates it
 * waits until the consumer has caught up. RSS of each service is sampled every second (during the
 * rates, then a soak at one rate). Everything it made is removed at the end, also on Ctrl-C.
 * Writes bench/results/latest.json (`e2e`, `memory`) and docs/benchmarks.md unless --no-record.
 */
import { parseArgs } from 'node:util';
import { createApiKey } from '@traceledger/auth';
import { TraceLedgerError } from '@traceledger/core';
import { createPool } from '@traceledger/db';
import { freePort } from '../tests/helpers/faults/ports.js';
import { FLAT_RULE_TEXT, RssSampler, assertServiceProcess, soakMemory, type SoakMemory } from './e2e-memory.js';
import { LoadGenerator, ProbePoller, probeLatencyMs, sleep, type OfferResult } from './e2e-load.js';
import { appendHistory, fmt, machine, percentile, recordLatest } from './report.js';
import { createBenchWorld, startService, waitReady, type BenchService, type BenchWorld } from './stack.js';

export const name = 'e2e';
export const summary = 'ingest → Kafka → consumer → query at fixed offered rates (ack-to-counted latency per event) and the services\' RSS, peak and soak';

const SERVICES = ['ingest', 'consumer', 'query'] as const;
type ServiceName = (typeof SERVICES)[number];
/** RSS no service may exceed (issue 11). */
const TARGET_RSS_MB = 300;
/** A rate passes at p99 <= this. */
const P99_TARGET_MS = 1000;
/** A rate passes only when this much of the offered rate was acknowledged... */
const MIN_ACHIEVED_SHARE = 0.95;
/** ...and at most this share of its requests went unsent or failed. */
const MAX_UNSENT_OR_FAILED_SHARE = 0.01;
const PASS_RULE = `p99 ≤ ${P99_TARGET_MS / 1000} s (a lost probe counts as infinitely late), achieved ≥ ${MIN_ACHIEVED_SHARE * 100}% of offered, at most ${MAX_UNSENT_OR_FAILED_SHARE * 100}% of the requests unsent or failed`;

interface Options {
  rates: number[];
  seconds: number;
  warmupSeconds: number;
  batch: number;
  soakMinutes: number;
  soakRate: number;
  maxInFlight: number;
  probesPerSecond: number;
  pollMs: number;
  probeTimeoutSeconds: number;
  stopP99Seconds: number;
  catchUpTimeoutSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string', default: '5000,10000,20000,30000,40000' },
      seconds: { type: 'string', default: '30' },
      'warmup-seconds': { type: 'string', default: '5' },
      batch: { type: 'string', default: '100' },
      'soak-minutes': { type: 'string', default: '10' },
      'soak-rate': { type: 'string', default: '10000' },
      'max-in-flight': { type: 'string', default: '64' },
      'probes-per-second': { type: 'string', default: '20' },
      'poll-ms': { type: 'string', default: '20' },
      'probe-timeout-seconds': { type: 'string', default: '60' },
      'stop-p99-seconds': { type: 'string', default: '10' },
      'catch-up-timeout-seconds': { type: 'string', default: '600' },
      // Read by report.ts from the command line: neither latest.json nor the history is written.
      'no-record': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const num = (flag: string, min: number, { whole = true } = {}): number => {
    const text = values[flag as keyof typeof values] as string;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || (whole && !Number.isInteger(n))) {
      throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--${flag} must be a ${whole ? 'whole ' : ''}number >= ${min}, got "${text}"`);
    }
    return n;
  };
  const rates = values.rates.split(',').map((r) => Number(r.trim()));
  if (rates.length === 0 || rates.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new TraceLedgerError('TL_BENCH_BAD_OPTION', `--rates must be whole numbers of events/s >= 1, comma-separated, got "${values.rates}"`);
  }
  const batch = num('batch', 2);
  return {
    // Ascending: a rate that fails stops the higher ones.
    rates: [...new Set(rates)].sort((a, b) => a - b),
    seconds: num('seconds', 1, { whole: false }),
    warmupSeconds: num('warmup-seconds', 0, { whole: false }),
    batch,
    soakMinutes: num('soak-minutes', 0, { whole: false }),
    soakRate: num('soak-rate', 1),
    maxInFlight: num('max-in-flight', 1),
    probesPerSecond: num('probes-per-second', 1),
    pollMs: num('poll-ms', 1),
    probeTimeoutSeconds: num('probe-timeout-seconds', 1),
    stopP99Seconds: num('stop-p99-seconds', 1, { whole: false }),
    catchUpTimeoutSeconds: num('catch-up-timeout-seconds', 1),
  };
}

/** One offered rate's figures; `notRun` says why it was skipped. */
interface RateRow {
  offered: number;
  notRun?: string;
  achievedEventsPerSec?: number;
  requests?: number;
  unsent?: number;
  failed?: number;
  answers?: Record<string, number>;
  sendLagP99Ms?: number;
  p50Ms?: number | null;
  p99Ms?: number | null;
  maxMs?: number | null;
  probes?: number;
  probesLost?: number;
  lagAtWindowEnd?: number;
  /** Seconds from the window's end until the consumer had committed everything; null: not within the timeout. */
  catchUpSeconds?: number | null;
  peakRssMb?: Record<ServiceName, number | null>;
  passed?: boolean;
}

interface LatencyFigures {
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  probes: number;
  probesLost: number;
}

/** Percentiles of the acknowledged probes of a window; a lost one counts as Infinity (shown as null in JSON). */
function latencies(result: OfferResult<number>): LatencyFigures {
  const acked = result.probes.filter((p) => p.ackAtMs !== null);
  const ms = acked.map(probeLatencyMs);
  const finite = (v: number): number | null => (Number.isFinite(v) ? Math.round(v) : null);
  return {
    p50Ms: finite(percentile(ms, 0.5)),
    p99Ms: finite(percentile(ms, 0.99)),
    maxMs: finite(percentile(ms, 1)),
    probes: acked.length,
    probesLost: acked.filter((p) => p.lost).length,
  };
}

/**
 * Records on the topic the group has not committed. Per partition and never below 0: the log's
 * end and the committed offset are read by two concurrent requests, and a commit that lands
 * between them can pass the end that was read (KafkaPort.consumerLag would then go negative).
 */
async function consumerLag(world: BenchWorld): Promise<number> {
  const partitions = await world.kafka.groupOffsets(world.group, world.topic);
  return Number(partitions.reduce((n, p) => n + (p.committed === null ? p.end : p.end > p.committed ? p.end - p.committed : 0n), 0n));
}

/** Waits until the group has committed everything on the topic; seconds it took, or null past `timeoutMs`. */
async function catchUp(world: BenchWorld, timeoutMs: number, signal: AbortSignal): Promise<number | null> {
  const start = performance.now();
  for (;;) {
    if ((await consumerLag(world)) === 0) return (performance.now() - start) / 1000;
    if (performance.now() - start > timeoutMs) return null;
    await sleep(250, signal);
  }
}

interface RunContext {
  o: Options;
  w: BenchWorld;
  load: LoadGenerator;
  poller: ProbePoller;
  sampler: RssSampler;
  signal: AbortSignal;
}

interface SoakResult {
  result: OfferResult<number>;
  latency: LatencyFigures;
  memory: Record<ServiceName, SoakMemory | null>;
  /** Where the soak's "start" RSS is read, seconds into it. */
  startAfterS: number;
}

/** Offers `rate` (warm-up, then the window), waits until the consumer has caught up and every probe is seen or lost. */
async function measureRate({ o, w, load, poller, sampler, signal }: RunContext, rate: number): Promise<RateRow> {
  process.stderr.write(`bench e2e: offering ${fmt(rate)} events/s: ${o.warmupSeconds} s warm-up, ${o.seconds} s measured\n`);
  const startedMs = performance.now();
  const r = await load.offer({ eventsPerSec: rate, warmupMs: o.warmupSeconds * 1000, windowMs: o.seconds * 1000, phase: `rate ${rate}` }, () => consumerLag(w));
  const caughtUp = await catchUp(w, o.catchUpTimeoutSeconds * 1000, signal);
  await poller.settled();
  const endMs = performance.now();
  const l = latencies(r);
  const passed =
    l.p99Ms !== null && l.p99Ms <= P99_TARGET_MS && r.achievedEventsPerSec >= MIN_ACHIEVED_SHARE * rate && r.unsent + r.failed <= MAX_UNSENT_OR_FAILED_SHARE * r.scheduled;
  process.stderr.write(
    `bench e2e: ${fmt(rate)} events/s: achieved ${fmt(Math.round(r.achievedEventsPerSec))}/s, p50 ${ms(l.p50Ms)} ms, p99 ${ms(l.p99Ms)} ms, ` +
      `${l.probesLost}/${l.probes} probes lost, ${r.unsent} unsent, ${r.failed} failed, send lag p99 ${Math.round(r.sendLagP99Ms)} ms, ` +
      `lag ${fmt(r.atWindowEnd)} at the window's end, caught up ${caughtUp === null ? 'not' : `in ${caughtUp.toFixed(1)} s`}\n`,
  );
  return {
    offered: rate,
    achievedEventsPerSec: Math.round(r.achievedEventsPerSec),
    requests: r.scheduled,
    unsent: r.unsent,
    failed: r.failed,
    answers: r.answers,
    sendLagP99Ms: Math.round(r.sendLagP99Ms),
    ...l,
    lagAtWindowEnd: r.atWindowEnd,
    catchUpSeconds: caughtUp === null ? null : Math.round(caughtUp * 10) / 10,
    peakRssMb: Object.fromEntries(SERVICES.map((s) => [s, sampler.peak(s, startedMs, endMs)])) as Record<ServiceName, number | null>,
    passed,
  };
}

/** Offers the soak rate for the soak's minutes; RSS per service over it (see soakMemory). */
async function measureSoak({ o, w, load, poller, sampler, signal }: RunContext): Promise<SoakResult> {
  process.stderr.write(`bench e2e: soak: ${o.soakMinutes} min at ${fmt(o.soakRate)} events/s\n`);
  const windowMs = o.soakMinutes * 60_000;
  // "After 1 minute", or half-way through a soak shorter than 2 minutes.
  const startAfterMs = Math.min(60_000, windowMs / 2);
  const result = await load.offer({ eventsPerSec: o.soakRate, warmupMs: 0, windowMs, phase: 'soak' }, () => consumerLag(w));
  const memory = Object.fromEntries(SERVICES.map((s) => [s, soakMemory(sampler, s, result.windowStartMs, result.windowEndMs, startAfterMs)])) as Record<ServiceName, SoakMemory | null>;
  await catchUp(w, o.catchUpTimeoutSeconds * 1000, signal);
  await poller.settled();
  return { result, latency: latencies(result), memory, startAfterS: startAfterMs / 1000 };
}

const ms = (v: number | null | undefined): string => (v === null || v === undefined ? 'lost' : fmt(v));
const mb = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : fmt(Math.round(v)));
const answerText = (a: Record<string, number> | undefined): string =>
  Object.entries(a ?? {})
    .filter(([k]) => k !== '202')
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');

/**
 * Makes an ingest and a query key for a tenant of the run, starts consumer, ingest and query (each
 * pushed onto `services` at once, so the caller stops it whatever happens next) and waits until
 * each answers /ready. `onExit` hears of any that exits.
 */
async function startStack(
  w: BenchWorld,
  services: BenchService[],
  signal: AbortSignal,
  onExit: (s: BenchService, code: string) => void,
): Promise<{ ingestUrl: string; queryUrl: string; ingestKey: string; queryKey: string }> {
  const tenantId = `bench-${w.id}`;
  const pool = createPool(w.databaseUrl, { max: 1, applicationName: 'traceledger-bench' });
  let ingestKey: string;
  let queryKey: string;
  try {
    ingestKey = (await createApiKey(pool, { tenantId, scopes: ['ingest'], label: 'bench e2e load' })).key;
    queryKey = (await createApiKey(pool, { tenantId, scopes: ['query'], label: 'bench e2e probes' })).key;
  } finally {
    await pool.end();
  }
  const [ingestPort, queryPort, consumerPort] = [await freePort(), await freePort(), await freePort()];
  const kafkaEnv = { DATABASE_URL: w.databaseUrl, KAFKA_BROKERS: w.brokers.join(','), KAFKA_TOPIC: w.topic, KAFKA_DLQ_TOPIC: w.deadLetterTopic, KAFKA_TOPIC_PARTITIONS: '3' };
  services.push(
    startService('consumer', { ...kafkaEnv, KAFKA_CONSUMER_GROUP: w.group, CONSUMER_PORT: String(consumerPort) }),
    startService('ingest', { ...kafkaEnv, INGEST_PORT: String(ingestPort), RATE_LIMIT_REQUESTS_PER_SECOND: '0', RATE_LIMIT_EVENTS_PER_SECOND: '0' }),
    startService('query', { DATABASE_URL: w.databaseUrl, QUERY_PORT: String(queryPort) }),
  );
  for (const s of services) void s.exited.then(({ code, signal: sig }) => onExit(s, String(code ?? sig)));
  process.stderr.write(`bench e2e: starting the services: ingest :${ingestPort}, consumer :${consumerPort}, query :${queryPort}\n`);
  await Promise.all([
    waitReady(`http://127.0.0.1:${ingestPort}/ready`, 'ingest', { signal }),
    waitReady(`http://127.0.0.1:${consumerPort}/ready`, 'consumer', { signal }),
    waitReady(`http://127.0.0.1:${queryPort}/ready`, 'query', { signal }),
  ]);
  for (const s of services) await assertServiceProcess(s.pid, s.name);
  return { ingestUrl: `http://127.0.0.1:${ingestPort}`, queryUrl: `http://127.0.0.1:${queryPort}`, ingestKey, queryKey };
}

export async function run(argv: string[]): Promise<string> {
  const o = parseOptions(argv);
  const say = (s: string) => process.stderr.write(`bench e2e: ${s}\n`);
  const abort = new AbortController();
  const { signal } = abort;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signal.aborted) {
      say(`${sig}: still cleaning up (services, topics, database); it ends by itself`);
      return;
    }
    say(`${sig}: stopping; cleaning up (services, topics, database)`);
    abort.abort(new TraceLedgerError('TL_BENCH_INTERRUPTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let world: BenchWorld | null = null;
  let stopping = false;
  const services: BenchService[] = [];
  let sampler: RssSampler | null = null;
  let poller: ProbePoller | null = null;
  try {
    say('making the database, topics and keys');
    world = await createBenchWorld('e2e');
    signal.throwIfAborted();
    const w = world;
    const stack = await startStack(w, services, signal, (s, code) => {
      if (stopping) return;
      // A Ctrl-C reaches the services too: let this process's own handler name the cause first.
      setTimeout(() => {
        if (!signal.aborted) abort.abort(new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `${s.name} (pid ${s.pid}) exited during the run (${code}); its last output:\n${s.tail() || '(none)'}`));
      }, 200);
    });
    const rss = new RssSampler(services.map((s) => ({ name: s.name, pid: s.pid })));
    sampler = rss;
    rss.start();

    const runStart = Date.now();
    poller = new ProbePoller({
      queryUrl: stack.queryUrl,
      key: stack.queryKey,
      intervalMs: o.pollMs,
      timeoutMs: o.probeTimeoutSeconds * 1000,
      fromIso: new Date(runStart - 3_600_000).toISOString(),
      toIso: new Date(runStart + 2 * 86_400_000).toISOString(),
      signal,
    });
    poller.start();
    const load = new LoadGenerator({ ingestUrl: `${stack.ingestUrl}/v1/events`, key: stack.ingestKey, runId: w.id, batch: o.batch, maxInFlight: o.maxInFlight, probesPerSec: o.probesPerSecond, poller, signal });

    // Nothing is measured before a probe has gone all the way through (the consumer joins its group meanwhile).
    say('checking the pipeline end to end');
    const check = await load.offer({ eventsPerSec: Math.min(1000, o.rates[0] ?? 1000), warmupMs: 0, windowMs: 2000, phase: 'check' }, () => consumerLag(w));
    await poller.settled();
    if (!check.probes.some((p) => p.seenAtMs !== null)) {
      throw new TraceLedgerError('TL_BENCH_PIPELINE_FAILED', `no probe reached the query API within ${o.probeTimeoutSeconds} s (answers ${JSON.stringify(check.answers)}; last failed poll: ${poller.lastFailure || 'none'})`);
    }
    if ((await catchUp(w, o.catchUpTimeoutSeconds * 1000, signal)) === null) throw new TraceLedgerError('TL_BENCH_PIPELINE_FAILED', 'the consumer did not commit the check traffic');

    const ctx: RunContext = { o, w, load, poller, sampler: rss, signal };
    const rows: RateRow[] = [];
    let stopReason: string | null = null;
    for (const rate of o.rates) {
      if (stopReason !== null) {
        rows.push({ offered: rate, notRun: stopReason });
        continue;
      }
      const row = await measureRate(ctx, rate);
      rows.push(row);
      if (row.p99Ms === null || row.p99Ms === undefined || row.p99Ms > o.stopP99Seconds * 1000) stopReason = `not run: previous rate's p99 > ${o.stopP99Seconds} s`;
      else if (row.catchUpSeconds === null) stopReason = `not run: the consumer did not catch up within ${o.catchUpTimeoutSeconds} s`;
    }
    const ratesEndMs = performance.now();
    const backlogged = rows.some((r) => r.catchUpSeconds === null);
    if (o.soakMinutes > 0 && backlogged) say('no soak: the consumer did not catch up after the last rate');
    const soak = o.soakMinutes > 0 && !backlogged ? await measureSoak(ctx) : null;
    const overallPeak = Object.fromEntries(SERVICES.map((s) => [s, rss.peak(s, 0, Number.POSITIVE_INFINITY)])) as Record<ServiceName, number | null>;
    const ratesPeak = Object.fromEntries(SERVICES.map((s) => [s, rss.peak(s, 0, ratesEndMs)])) as Record<ServiceName, number | null>;
    const gaps = poller.gapsMs;
    const pollGap = gaps.length === 0 ? { p50Ms: 0, p99Ms: 0 } : { p50Ms: Math.round(percentile(gaps, 0.5)), p99Ms: Math.round(percentile(gaps, 0.99)) };
    const polls = { total: poller.polls, failed: poller.failedPolls, lastFailure: poller.lastFailure };

    return report(o, rows, soak, { overallPeak, ratesPeak, pollGap, polls });
  } finally {
    stopping = true;
    sampler?.stop();
    await poller?.stop();
    // Ingest and query first (nothing new reaches the topic), then the consumer, which commits what it has.
    await Promise.all(services.filter((s) => s.name !== 'consumer').map((s) => s.stop()));
    await Promise.all(services.filter((s) => s.name === 'consumer').map((s) => s.stop()));
    const failures = world === null ? [] : await world.remove();
    for (const e of failures) say(`clean-up failed: ${e}`);
    if (world !== null && failures.length === 0) say(`clean-up done: services stopped; database, topics and group of run ${world.id} removed`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function report(
  o: Options,
  rows: RateRow[],
  soak: SoakResult | null,
  extra: { overallPeak: Record<ServiceName, number | null>; ratesPeak: Record<ServiceName, number | null>; pollGap: { p50Ms: number; p99Ms: number }; polls: { total: number; failed: number; lastFailure: string } },
): string {
  const passing = rows.filter((r) => r.passed === true).map((r) => r.offered);
  const maxRateP99Under1s = passing.length === 0 ? null : Math.max(...passing);
  const withinTarget = SERVICES.every((s) => (extra.overallPeak[s] ?? 0) <= TARGET_RSS_MB);
  const flat = soak === null ? null : SERVICES.every((s) => soak.memory[s]?.flat === true);
  const meetsMemoryTarget = withinTarget && flat !== false;

  const rateLines = rows.map((r) =>
    r.notRun !== undefined
      ? `| ${fmt(r.offered)} | ${r.notRun} | | | | | | | | |`
      : `| ${fmt(r.offered)} | ${fmt(r.achievedEventsPerSec ?? 0)} | ${fmt(r.unsent ?? 0)} / ${fmt(r.failed ?? 0)}${answerText(r.answers) ? ` (${answerText(r.answers)})` : ''} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | ${fmt(r.probes ?? 0)} (${fmt(r.probesLost ?? 0)}) | ${fmt(r.lagAtWindowEnd ?? 0)} | ${r.catchUpSeconds === null || r.catchUpSeconds === undefined ? `> ${o.catchUpTimeoutSeconds}` : r.catchUpSeconds.toFixed(1)} | ${SERVICES.map((s) => mb(r.peakRssMb?.[s])).join(' / ')} |`,
  );
  const memLines = SERVICES.map((s) => {
    const m = soak?.memory[s] ?? null;
    const soakCells = m === null ? '– | – | – | – | –' : `${mb(m.startMb)} | ${mb(m.endMb)} | ${mb(m.peakMb)} | ${m.slopeMbPerMin >= 0 ? '+' : ''}${m.slopeMbPerMin.toFixed(2)} | ${m.flat ? 'yes' : 'no'}`;
    return `| ${s} | ${mb(extra.ratesPeak[s])} | ${soakCells} | ${(extra.overallPeak[s] ?? 0) <= TARGET_RSS_MB ? 'yes' : 'no'} |`;
  });
  const soakText =
    soak === null
      ? 'No soak (--soak-minutes 0).'
      : `Soak: ${o.soakMinutes} min at ${fmt(o.soakRate)} events/s offered, ${fmt(Math.round(soak.result.achievedEventsPerSec))} acknowledged/s, ${fmt(soak.result.unsent)} unsent / ${fmt(soak.result.failed)} failed requests, latency p50 ${ms(soak.latency.p50Ms)} ms, p99 ${ms(soak.latency.p99Ms)} ms (${soak.latency.probesLost} of ${soak.latency.probes} probes lost), lag ${fmt(soak.result.atWindowEnd)} at its end. "Start" is the first sample ${soak.startAfterS} s into the soak; ${FLAT_RULE_TEXT}.`;

  const md = [
    `### e2e benchmark: ingest → Kafka → consumer → query, each its own process; batches of ${o.batch} events (~250 B of JSON each, ~10 per session), 3 partitions`,
    '',
    `Each rate offered open-loop for ${o.seconds} s after ${o.warmupSeconds} s of warm-up. Latency per event: from ingest's 202 to the query API counting it (probe events, below). Between rates the consumer catches up (lag 0).`,
    '',
    '| offered events/s | acked events/s | requests unsent / failed | p50 ms | p99 ms | max ms | probes (lost) | consumer lag at window end | catch-up s | peak RSS ingest / consumer / query, MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rateLines,
    '',
    `**maxRateP99Under1s: ${maxRateP99Under1s === null ? 'none of the rates' : `${fmt(maxRateP99Under1s)} events/s`}**: the highest offered rate with ${PASS_RULE}.`,
    '',
    `Probes: about ${o.probesPerSecond} requests a second carry, in place of their last event, a \`session.started\` of a session and agent no other event has (\`probe-<run>-<n>\`). Once its request is acknowledged, a poller asks \`GET /api/analytics/usage?agent=<every pending probe>&groupBy=agent\` (real HTTP, a query-scope API key; one request per 100 pending probes) every ${o.pollMs} ms until a row counts the probe's session; latency = arrival of that answer − arrival of the 202. Measured gap between polls: p50 ${extra.pollGap.p50Ms} ms, p99 ${extra.pollGap.p99Ms} ms, so a latency is late by at most one gap plus a poll's round trip. A probe not counted within ${o.probeTimeoutSeconds} s is lost. ${fmt(extra.polls.total)} polls, ${fmt(extra.polls.failed)} failed${extra.polls.failed > 0 ? ` (last: ${extra.polls.lastFailure})` : ''}.`,
    `Overload: at most ${o.maxInFlight} requests unanswered at once; a request whose time comes while that many are out (or that the generator reaches more than 1 s late) is not sent and counted as unsent. Failed: any answer but 202, or none within 30 s. Services at LOG_LEVEL=warn, API keys on, rate limits off; load generator and poller in the benchmark's own process.`,
    '',
    `#### Memory: RSS (VmRSS of each service's own node process, sampled every second)`,
    '',
    `| service | peak during the rates, MB | soak: start, MB | soak: end, MB | soak: peak, MB | slope over the soak's 2nd half, MB/min | flat | peak ≤ ${TARGET_RSS_MB} MB |`,
    '|---|---:|---:|---:|---:|---:|---|---|',
    ...memLines,
    '',
    soakText,
    `Target (issue 11): no service above ${TARGET_RSS_MB} MB RSS${soak === null ? '' : ', flat over the soak'}: **${meetsMemoryTarget ? 'met' : 'not met'}**${soak === null ? ' (flatness not measured)' : ''}.`,
    '',
    `Machine: ${machine()}.`,
  ].join('\n');

  const settings = { batch: o.batch, seconds: o.seconds, warmupSeconds: o.warmupSeconds, maxInFlight: o.maxInFlight, probesPerSecond: o.probesPerSecond, pollMs: o.pollMs, probeTimeoutSeconds: o.probeTimeoutSeconds };
  recordLatest('e2e', { maxRateP99Under1s, rule: PASS_RULE, rates: rows, pollGapMs: extra.pollGap, polls: extra.polls, ...settings });
  const memory = Object.fromEntries(
    SERVICES.map((s) => [s, { peakDuringRatesMb: round1(extra.ratesPeak[s]), peakMb: round1(extra.overallPeak[s]), soak: roundSoak(soak?.memory[s] ?? null) }]),
  );
  recordLatest('memory', { targetMb: TARGET_RSS_MB, flatRule: FLAT_RULE_TEXT, soakMinutes: o.soakMinutes, soakRate: o.soakRate, meetsTarget: meetsMemoryTarget, services: memory });
  const offered = rows.map((r) => fmt(r.offered)).join(', ');
  appendHistory([
    [
      'e2e, highest offered rate with p99 ≤ 1 s (202 → counted by the query API)',
      maxRateP99Under1s === null ? 'none' : `${fmt(maxRateP99Under1s)} events/s`,
      `offered ${offered} events/s, ${o.seconds} s each`,
      '–',
    ],
    ...SERVICES.map((s): [string, string, string, string] => {
      const m = soak?.memory[s] ?? null;
      const soakPart = m === null ? '' : `; soak ${o.soakMinutes} min at ${fmt(o.soakRate)}/s: ${mb(m.startMb)} → ${mb(m.endMb)} MB, ${m.slopeMbPerMin.toFixed(2)} MB/min (${m.flat ? 'flat' : 'not flat'})`;
      const ok = (extra.overallPeak[s] ?? 0) <= TARGET_RSS_MB && (m === null || m.flat);
      return [`memory, ${s} (RSS)`, `peak ${mb(extra.overallPeak[s])} MB${soakPart}`, `target ≤ ${TARGET_RSS_MB} MB${m === null ? '' : ', flat'}`, ok ? 'met' : 'not met'];
    }),
  ]);
  return md;
}

function round1(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10) / 10;
}

function roundSoak(m: SoakMemory | null): Record<string, number | boolean | null> | null {
  return m === null ? null : { startMb: round1(m.startMb), endMb: round1(m.endMb), peakMb: round1(m.peakMb), slopeMbPerMin: Math.round(m.slopeMbPerMin * 1000) / 1000, flat: m.flat };
}
