import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiKey } from '@traceledger/auth';
import { startKafkaProxy, type KafkaProxy } from '../helpers/faults/kafka-proxy.js';
import { msg } from '../helpers/faults/processes.js';
import { waitFor } from '../helpers/world.js';
import type { Finding } from './check.js';
import { judge } from './judge.js';
import { History } from './record.js';
import { buildScenario, makeRng, priceFile, type BackfillKey, type JsonEvent, type Scenario, type ScenarioSize } from './scenario.js';
import { postLegacy, runProducers, type Acks, type IngestTargets, type Rejection } from './traffic.js';
import { Cleanup, Consumers, cliJson, createHistoryWorld, growPartitions, publishBackfillRecords, startIngestApp, startQueryApp, streamBackfillRecords } from './world.js';

/** Ingest's publish timeout in the run: short, so the proxy's held answers become 503s. */
const PUBLISH_TIMEOUT_MS = 500;
/** No seed may run its live phase and operations for longer than this. */
const RUN_DEADLINE_MS = 100_000;

export interface RunResult {
  seed: number;
  ok: boolean;
  wallMs: number;
  phases: Record<string, number>;
  findings: Finding[];
  /** Everything a person needs to see on a failure: seed, counts, timeline, findings, first differing session. */
  report: string;
  /** Every differing session, one line each, and every attempt (for the report file, not the console). */
  appendix: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Runs one seed: builds its scenario, starts its world, runs producers, consumers, faults and
 * operations concurrently as scheduled, waits for the pipeline to drain, then compares the model
 * with trace_sessions, the ledger, billing, analytics, verify and the dead-letter topic.
 */
export async function runHistory(seed: number, size?: ScenarioSize): Promise<RunResult> {
  const started = Date.now();
  const phases: Record<string, number> = {};
  const cleanup = new Cleanup();
  const history = new History();
  const findings: Finding[] = [];
  let scenario: Scenario | null = null;
  let consumers: Consumers | null = null;
  const details: string[] = [];
  const appendix: string[] = [];
  try {
    const world = await createHistoryWorld(seed, cleanup);
    const sc = buildScenario(seed, Math.floor(Date.now() / 1000) * 1000, size);
    scenario = sc;
    const rt = makeRng(seed * 7919 + 17); // run-time choices: retry pauses, which ingest, when late records go
    writeFileSync(join(world.pricesDir, 'v1.json'), JSON.stringify(priceFile(sc.prices, 'v1'), null, 1));

    const ingestKeys = new Map<string, string>();
    const queryKeys = new Map<string, string>();
    for (const t of sc.tenants) {
      ingestKeys.set(t, (await createApiKey(world.pool, { tenantId: t, scopes: ['ingest'], label: 'history producer' })).key);
      queryKeys.set(t, (await createApiKey(world.pool, { tenantId: t, scopes: ['query'], label: 'history reader' })).key);
    }
    const proxy: KafkaProxy = await startKafkaProxy(world.brokers[0] as string);
    cleanup.defer('close the proxy', () => proxy.close());
    const ingest1 = await startIngestApp({ brokers: proxy.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: PUBLISH_TIMEOUT_MS, label: 'ingest-1' }, cleanup);
    const targets: IngestTargets = { urls: [ingest1.url], share: sc.schedule.ingest2Share };
    const query = await startQueryApp(world.pool, cleanup);
    const fleet = new Consumers(world, history);
    consumers = fleet;
    cleanup.defer('stop the consumers', () => fleet.stopAll());
    const first = fleet.start('consumer-a', sc.schedule.holdBeforeCommitMs > 0 ? { TL_TEST_HOLD_BEFORE_COMMIT_MS: String(sc.schedule.holdBeforeCommitMs) } : {});

    const backfillIds = {} as Record<BackfillKey, string>;
    const keys: BackfillKey[] = ['b1', 'b2', 'b3'];
    await Promise.all([
      ...keys.map(async (k) => {
        const p = sc.backfills[k];
        const r = await history.op(
          `backfill create ${k}`,
          () => cliJson<{ backfillId: string }>(world, ['backfill', 'create', '--tenant', p.tenant, '--label', `history ${k}`, ...(p.replace ? ['--replace'] : [])]),
          (b) => `${b.backfillId} tenant ${p.tenant}${p.replace ? ' replace' : ''}`,
        );
        backfillIds[k] = r.backfillId;
        writeFileSync(join(world.workDir, `${k}.ndjson`), `${p.fileLines.join('\n')}\n`);
      }),
      first.waitForLog(msg('consumer running'), { timeoutMs: 60_000, what: 'consumer-a running' }),
    ]);
    phases['setupMs'] = Date.now() - started;
    history.startClock();
    const at = (ms: number) => sleep(history.at(ms) - Date.now());

    const acks: Acks = new Map();
    const rejections: Rejection[] = [];
    const legacyDone = deferred();
    const partitionsDone = deferred();
    const closedSeq: Partial<Record<BackfillKey, number>> = {};
    let closes = 0;
    const s = sc.schedule;
    /** A track that fails is recorded and does not stop the others. */
    const trackErrors: string[] = [];
    const track = async (name: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        const m = (err as Error).message.split('\n')[0] ?? '';
        trackErrors.push(`${name}: ${m}`);
        history.note(`track ${name} stopped`, m);
      }
    };

    const producers = track('producers', () =>
      history.op(
        'live traffic',
        () => runProducers({ batches: sc.batches, keys: ingestKeys, targets, history, rng: makeRng(seed * 31 + 5), concurrency: 3, acks, rejections }),
        () => `${sc.batches.length} batches acknowledged`,
      ),
    );

    const legacy = track('legacy', async () => {
      try {
        await at(200);
        const common = { keys: ingestKeys, targets, history, rng: rt, acks };
        const ids: string[] = [];
        await history.op('legacy: first summaries (and identical reposts)', async () => {
          await Promise.all(
            sc.legacy.map(async (l) => {
              ids.push(...(await postLegacy(`legacy:${l.first.sessionId}:first`, l.tenant, l.first, common)));
              if (l.repost) await postLegacy(`legacy:${l.first.sessionId}:repost`, l.tenant, l.first, common);
            }),
          );
        });
        // The second summary goes out once the first is in the ledger, so "the first content
        // recorded wins" names the first summary whatever the timing (and, on the same partition,
        // for a replay too: the partitions grow only after this track).
        await history.op('legacy: first summaries in the ledger', () =>
          waitFor(
            async () => {
              const { rows } = await world.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM applied_events WHERE event_id = ANY($1)', [ids]);
              return rows[0]?.n === ids.length;
            },
            { timeoutMs: 40_000, intervalMs: 100, what: 'the first legacy summaries to be folded' },
          ),
        );
        await history.op('legacy: second summaries (other numbers)', async () => {
          await Promise.all(sc.legacy.map((l) => postLegacy(`legacy:${l.first.sessionId}:second`, l.tenant, l.second, common)));
        });
      } finally {
        legacyDone.resolve();
      }
    });

    const partitions = track('partitions', async () => {
      try {
        await legacyDone.promise;
        await at(s.partitionsAt);
        await history.op(`partitions ${s.partitionsFrom} → ${s.partitionsTo}`, () => growPartitions(world.brokers, world.topic, s.partitionsTo));
        const ingest2 = await history.op(
          'start ingest-2 (fresh producer metadata: the new partitions)',
          () => startIngestApp({ brokers: proxy.brokers, topic: world.topic, pool: world.pool, publishTimeoutMs: PUBLISH_TIMEOUT_MS, label: 'ingest-2' }, cleanup),
          (r) => r.url,
        );
        targets.urls.push(ingest2.url);
      } finally {
        partitionsDone.resolve();
      }
    });

    // B joins after the partitions grew, so the leader assigns the new ones while A is alive.
    const membership = track('consumers', async () => {
      await partitionsDone.promise;
      await sleep(s.consumerJoinDelayMs);
      const hook = s.killMode === 'hook';
      const b = fleet.start('consumer-b', hook ? { TL_TEST_CRASH_AFTER_DB_COMMIT: String(s.hookCommits) } : {});
      if (hook) {
        fleet.expectExit('consumer-b');
        const exit = await Promise.race([b.exited, at(Math.round(0.85 * s.liveMs)).then(() => null)]);
        if (exit === null) {
          history.note(`consumer-b did not reach its crash hook (${s.hookCommits} commits) in time: SIGKILL`);
          b.signal('SIGKILL');
          await b.exited;
        } else {
          history.note(`consumer-b SIGKILLed itself after ${s.hookCommits} database commits, before their offset commit`);
        }
        await sleep(s.restartDelayMs);
        fleet.start('consumer-b2');
      } else {
        await b.waitForLog(msg('consumer running'), { timeoutMs: 60_000, what: 'consumer-b running' });
        await at(s.killAt);
        const a = fleet.expectExit('consumer-a');
        history.note('SIGKILL consumer-a');
        a.signal('SIGKILL');
        await a.exited;
        await sleep(s.restartDelayMs);
        fleet.start('consumer-a2');
      }
    });

    const faults = track('proxy', async () => {
      await Promise.all([
        ...s.proxyDelays.map(async (d) => {
          await at(d.at);
          proxy.delayProduceResponses(d.ms);
          history.note(`proxy holds Produce answers ${d.ms} ms (publish timeout ${PUBLISH_TIMEOUT_MS} ms)`);
          await at(d.at + d.forMs);
          proxy.delayProduceResponses(0);
          history.note('proxy passes Produce answers again');
        }),
        ...s.proxyDrops.map(async (d) => {
          await at(d.at);
          proxy.dropProduceResponses(d.n);
          history.note(`proxy drops the next ${d.n} Produce answer(s) and cuts the connection`);
        }),
      ]);
    });

    const records = (k: BackfillKey, events: readonly JsonEvent[]) => events.map((event) => ({ tenant: sc.backfills[k].tenant, event, backfillId: backfillIds[k] }));
    const publishLate = (k: BackfillKey, what: string, events: readonly JsonEvent[]) =>
      history.op(`publish ${events.length} late ${k} record(s) ${what}`, () => publishBackfillRecords(world, records(k, events)));
    /** Runs a close / revert while that backfill's `lateDuring` records go to the topic, one by one. */
    const lifecycle = async (k: BackfillKey, verb: 'close' | 'revert') => {
      const during = sc.backfills[k].lateDuring;
      const lateDelay = rt.int(100, 500);
      await Promise.all([
        history.op(`backfill ${verb} ${k}`, () => cliJson<{ events: number; sessions: number }>(world, ['backfill', verb, backfillIds[k]]), (r) => `${r.events} events, ${r.sessions} sessions`).then(() => {
          if (verb === 'close') closedSeq[k] = ++closes;
        }),
        (async () => {
          await sleep(lateDelay);
          await history.op(`stream ${during.length} late ${k} record(s) during the ${verb}`, () => streamBackfillRecords(world, records(k, during), () => rt.int(40, 160)));
        })(),
      ]);
      await publishLate(k, `after the ${verb}`, sc.backfills[k].lateAfter);
    };

    const backfills = track('backfills', async () => {
      await at(s.loadAt);
      const loads = Object.fromEntries(
        keys.map((k) => [
          k,
          history.op(`backfill load ${k}`, () => cliJson<{ linesDone: number; eventsSent: number; rejectedLines: number }>(world, ['backfill', 'load', backfillIds[k], join(world.workDir, `${k}.ndjson`)]), (r) => `${r.linesDone} lines, ${r.eventsSent} sent, ${r.rejectedLines} rejected`),
        ]),
      ) as Record<BackfillKey, Promise<unknown>>;
      await Promise.all([
        track('b1', async () => {
          await loads.b1;
          await at(s.b1CloseAt);
          await lifecycle('b1', 'close');
          await history.op('publish records naming an unknown backfill / another tenant\'s backfill', () =>
            publishBackfillRecords(world, sc.strays.map((x) => ({ tenant: x.tenant, event: x.event, backfillId: x.backfill === 'unknown' ? 'bf_000000000000' : backfillIds.b1 }))),
          );
        }),
        track('b2', async () => {
          await loads.b2;
          if (s.b2CloseAt !== null) {
            await at(s.b2CloseAt);
            await history.op('backfill close b2', () => cliJson<{ events: number }>(world, ['backfill', 'close', backfillIds.b2]), (r) => `${r.events} events`);
            closedSeq.b2 = ++closes;
          }
          await at(s.b2RevertAt);
          await lifecycle('b2', 'revert');
        }),
        track('b3', async () => {
          await loads.b3;
          await at(s.b3CloseAt);
          await lifecycle('b3', 'close');
        }),
      ]);
    });

    // Replay and reprice never overlap: a replay prices with the book it read when it started,
    // so one that started before the restated version was stored and swapped after the reprice
    // would bring old prices back, and the spec does not say which wins. With them apart, every
    // book-priced event ends at the restated price (the reprice window covers every event).
    const replayAndReprice = track('replay/reprice', async () => {
      const replay = () =>
        history.op('replay --from earliest', () => cliJson<{ records: number; events: number; sessions: number }>(world, ['replay', '--from', 'earliest'], 90_000), (r) => `${r.records} records, ${r.events} events re-derived, ${r.sessions} sessions`);
      const reprice = async () => {
        writeFileSync(join(world.pricesDir, 'v2.json'), JSON.stringify(priceFile(sc.prices, 'v2'), null, 1));
        history.note(`price file ${sc.prices.v2Version} written (restates ${sc.prices.entries.filter((e) => e.v2).length} entries)`);
        await history.op(`reprice ${sc.repriceWindow.from} .. ${sc.repriceWindow.to}`, () => cliJson<{ events: number; sessions: number }>(world, ['reprice', '--from', sc.repriceWindow.from, '--to', sc.repriceWindow.to]), (r) => `${r.events} events in ${r.sessions} sessions`);
      };
      const [firstOp, firstAt, secondOp, secondAt] = s.replayFirst ? [replay, s.replayAt, reprice, s.repriceAt] : [reprice, s.repriceAt, replay, s.replayAt];
      await at(firstAt);
      await firstOp().catch(() => undefined);
      await at(secondAt);
      await secondOp();
    });

    let timer: NodeJS.Timeout | undefined;
    const everything = Promise.all([producers, legacy, partitions, membership, faults, backfills, replayAndReprice]);
    await Promise.race([everything, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the live phase did not end within ${RUN_DEADLINE_MS} ms`)), RUN_DEADLINE_MS)))]);
    clearTimeout(timer);
    phases['liveMs'] = history.now();

    await history.op('drain: consumer group lag 0', () =>
      waitFor(
        async () => {
          if (fleet.running().length === 0) throw new Error('no consumer is running');
          return (await world.kafka.consumerLag(world.group, world.topic)) === 0;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `group ${world.group} to commit all of ${world.topic}` },
      ),
    );
    phases['drainMs'] = history.now() - phases['liveMs'];
    await fleet.stopAll();
    const checkStart = Date.now();

    const judged = await judge({ sc, world, history, fleet, query, queryKeys, acks, rejections, backfillIds, closedSeq, trackErrors });
    findings.push(...judged.findings);
    details.push(...judged.details);
    appendix.push(...judged.appendix);
    phases['checkMs'] = Date.now() - checkStart;
    if (process.env['TL_HISTORY_KEEP_DB'] === '1') details.push(`  database kept: ${world.databaseUrl}`);
  } catch (err) {
    findings.push({ check: 'harness', message: `the run did not complete: ${(err as Error).stack?.split('\n').slice(0, 4).join(' | ') ?? String(err)}` });
  } finally {
    const errors = await cleanup.run();
    for (const e of errors) history.note('cleanup failed', e);
  }
  const wallMs = Date.now() - started;
  phases['wallMs'] = wallMs;
  appendix.push('attempts:', ...history.attempts.map((a) => `  ${(a.startMs / 1000).toFixed(3)}s ${a.what}#${a.attempt} ingest-${a.ingest} → ${a.status} (${((a.endMs - a.startMs) / 1000).toFixed(3)}s) accepted ${a.accepted} rejected ${a.rejected}${a.error ? ` ${a.error}` : ''}`));
  return { seed, ok: findings.length === 0, wallMs, phases, findings, report: report(seed, scenario, history, findings, details, phases, consumers), appendix: appendix.join('\n') };
}

function report(seed: number, sc: Scenario | null, history: History, findings: readonly Finding[], details: readonly string[], phases: Record<string, number>, consumers: Consumers | null): string {
  const lines = [`history checker, seed ${seed}: ${findings.length === 0 ? 'OK' : `${findings.length} finding(s)`}  (rerun: npm run test:history -- --seeds 1 --first ${seed})`];
  lines.push(`  phases: ${Object.entries(phases).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`).join(', ')}`);
  if (sc !== null) {
    const s = sc.schedule;
    const liveCount = [...sc.liveEvents.values()].reduce((n, m) => n + m.size, 0);
    lines.push(
      `  scenario: ${liveCount} live events in ${sc.batches.length} batches (${sc.batches.reduce((n, b) => n + b.events.length, 0)} posted with duplicates, ${sc.rejectedLiveIds.size} invalid), ` +
        `${sc.legacy.length} legacy sessions, backfills b1 ${sc.backfills.b1.fileEvents.length}+${sc.backfills.b1.lateDuring.length + sc.backfills.b1.lateAfter.length} late (add, closed), ` +
        `b2 ${sc.backfills.b2.fileEvents.length}+${sc.backfills.b2.lateDuring.length + sc.backfills.b2.lateAfter.length} late (${sc.backfills.b2.replace ? 'replace' : 'add'}, ${sc.backfills.b2.closeBeforeRevert ? 'closed then ' : ''}reverted), ` +
        `b3 ${sc.backfills.b3.fileEvents.length}+${sc.backfills.b3.lateDuring.length + sc.backfills.b3.lateAfter.length} late (replace, closed); partitions ${s.partitionsFrom}→${s.partitionsTo}; kill ${s.killMode}; ${s.replayFirst ? 'replay then reprice' : 'reprice then replay'}`,
    );
  }
  lines.push('  operations:', history.timeline(), history.attemptSummary());
  if (findings.length > 0) {
    lines.push('  findings:');
    for (const f of findings) lines.push(`   - [${f.check}] ${f.message}`);
  }
  lines.push(...details);
  if (findings.length > 0 && consumers !== null) lines.push('  consumer warnings and errors:', consumers.logTail());
  return lines.join('\n');
}
