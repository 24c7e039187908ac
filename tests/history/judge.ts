import type { FastifyInstance } from 'fastify';
import { readApi, readDeadLetters, readLedger, readSessions, readSqlTotals, type ApiTotals } from './actual.js';
import { describeLedgerOfSession, describeSession, diffSessions, firstDiffs, ledgerFindings, markFindings, sessionFindings, totalsFindings, type Finding } from './check.js';
import { expectedState, key, legacyEvents, priceBook, type ModelBackfill } from './model.js';
import type { History } from './record.js';
import type { BackfillKey, JsonEvent, Scenario } from './scenario.js';
import type { Acks, Rejection } from './traffic.js';
import { verify, type Consumers, type HistoryWorld } from './world.js';

/** What a finished run observed, for the judgement. */
export interface Observed {
  sc: Scenario;
  world: HistoryWorld;
  history: History;
  fleet: Consumers;
  query: FastifyInstance;
  queryKeys: ReadonlyMap<string, string>;
  acks: Acks;
  rejections: readonly Rejection[];
  backfillIds: Record<BackfillKey, string>;
  /** Order in which the backfills' closes completed. */
  closedSeq: Partial<Record<BackfillKey, number>>;
  trackErrors: readonly string[];
}

const showValue = (v: unknown): string => (v === null || v === undefined ? 'null' : String(v));

/**
 * Builds the model's facts from what the run observed (acknowledged events, backfill ids and
 * final states), reads the database, the query API, verify and the dead-letter topic, and lists
 * every difference from the model, with the first differing sessions in detail.
 */
export async function judge(o: Observed): Promise<{ findings: Finding[]; details: string[]; appendix: string[] }> {
  const { sc, world, history, fleet, query, queryKeys, acks, rejections, backfillIds, closedSeq, trackErrors } = o;
  const findings: Finding[] = [];
  const details: string[] = [];
  const appendix: string[] = [];
  const keys: BackfillKey[] = ['b1', 'b2', 'b3'];
  // What happened, against what the model says should have.
  findings.push(...history.failedOps().map((o) => ({ check: 'operations', message: `${o.name} failed: ${o.detail}` })));
  findings.push(...fleet.unexpectedExits.map((m) => ({ check: 'consumers', message: m })));
  // A track that stopped on something other than a failed operation did not play its part.
  const failedDetails = history.failedOps().map((o) => o.detail.split(' | ')[0] ?? '');
  for (const e of trackErrors) if (!failedDetails.some((d) => d !== '' && e.includes(d))) findings.push({ check: 'harness', message: `track ${e}` });
  const n503 = history.attempts.filter((a) => a.status === 503).length;
  if (n503 === 0) findings.push({ check: 'harness', message: 'no request got a 503: the publish-timeout fault was not exercised' });

  const liveFacts = new Map<string, Map<string, JsonEvent>>();
  const legacyById = new Map<string, JsonEvent>();
  for (const l of sc.legacy) for (const e of legacyEvents(l.first)) legacyById.set(key(l.tenant, e.event_id), e);
  for (const [tenant, ids] of acks) {
    const mine = new Map<string, JsonEvent>();
    liveFacts.set(tenant, mine);
    for (const id of ids.keys()) {
      const e = sc.liveEvents.get(tenant)?.get(id) ?? legacyById.get(key(tenant, id));
      if (e === undefined) {
        if (!sc.rejectedLiveIds.has(id)) findings.push({ check: 'ingest', message: `acknowledged an event the scenario never made: ${tenant}/${id}` });
        continue;
      }
      mine.set(id, e);
    }
  }
  const invalidAccepted = [...sc.rejectedLiveIds].filter((id) => sc.tenants.some((t) => acks.get(t)?.has(id)));
  if (invalidAccepted.length > 0) findings.push({ check: 'ingest', message: `accepted ${invalidAccepted.length} event(s) that break the contract: ${invalidAccepted.slice(0, 5).join(', ')}` });
  const validRejected = rejections.filter((r) => !sc.rejectedLiveIds.has(r.eventId));
  if (validRejected.length > 0) findings.push({ check: 'ingest', message: `rejected ${validRejected.length} valid event(s): ${validRejected.slice(0, 5).map((r) => `${r.eventId} ${r.code}`).join(', ')}` });
  const neverAcked = sc.tenants.flatMap((t) => [...(sc.liveEvents.get(t)?.keys() ?? [])].filter((id) => !acks.get(t)?.has(id)).map((id) => `${t}/${id}`));
  if (neverAcked.length > 0) findings.push({ check: 'harness', message: `${neverAcked.length} live event(s) never acknowledged (a producer gave up): ${neverAcked.slice(0, 5).join(', ')}` });

  const members = (k: BackfillKey) => [...sc.backfills[k].fileEvents, ...sc.backfills[k].lateDuring, ...sc.backfills[k].lateAfter];
  const modelBackfills: ModelBackfill[] = keys.map((k) => ({
    id: backfillIds[k],
    tenant: sc.backfills[k].tenant,
    replace: sc.backfills[k].replace,
    state: sc.backfills[k].finalState,
    closedSeq: closedSeq[k] ?? null,
    members: sc.backfills[k].finalState === 'reverted' ? [] : members(k),
  }));
  const expected = expectedState({ live: liveFacts, backfills: modelBackfills, book: priceBook(sc.prices, 'v1+v2') });

  const [sessions, ledger, sqlTotals, deadLetters, verified, topicRecords] = await Promise.all([
    readSessions(world.pool),
    readLedger(world.pool),
    readSqlTotals(world.pool),
    readDeadLetters(world.kafka, world.deadLetterTopic),
    verify(world),
    world.kafka.readTopic(world.topic, { timeoutMs: 20_000 }),
  ]);
  // Evidence the partition change did what it is for: sessions with records in two partitions.
  const partitionsOf = new Map<string, Set<number>>();
  for (const r of topicRecords) {
    const k = r.key?.toString('utf8') ?? '';
    partitionsOf.set(k, (partitionsOf.get(k) ?? new Set()).add(r.partition));
  }
  const split = [...partitionsOf.values()].filter((p) => p.size > 1).length;
  const api = new Map<string, ApiTotals>();
  for (const t of sc.tenants) {
    try {
      api.set(t, await readApi(query, queryKeys.get(t) as string));
    } catch (err) {
      findings.push({ check: 'query', message: `${t}: ${(err as Error).message}` });
    }
  }

  const everSent = new Set<string>();
  for (const [t, m] of sc.liveEvents) for (const id of m.keys()) everSent.add(key(t, id));
  for (const id of sc.rejectedLiveIds) for (const t of sc.tenants) everSent.add(key(t, id));
  for (const k of keys) for (const e of [...members(k)]) everSent.add(key(sc.backfills[k].tenant, e.event_id));
  for (const k of keys) for (const id of sc.backfills[k].rejectedLineIds) everSent.add(key(sc.backfills[k].tenant, id));
  for (const x of sc.strays) everSent.add(key(x.tenant, x.event.event_id));
  for (const k of legacyById.keys()) everSent.add(k);

  findings.push(...ledgerFindings(expected, ledger, everSent));
  const diffs = diffSessions(expected, sessions);
  findings.push(...sessionFindings(diffs));
  findings.push(...totalsFindings(expected, sc.tenants, sqlTotals, api));
  if (verified.code !== 0) findings.push({ check: 'verify', message: `npm run verify exited ${verified.code}: ${`${verified.stdout}${verified.stderr}`.trim().split('\n').slice(0, 6).join(' | ')}` });
  findings.push(...markFindings(expected, ledger));

  // Dead letters: records of a reverted backfill read after the revert, and records naming an
  // unknown backfill or another tenant's, are refused with a code.
  const dlq = (tenant: string, id: string, code: string) => deadLetters.some((d) => d.eventId === id && d.tenant === tenant && d.code === code);
  const missingDlq = [
    ...sc.backfills.b2.lateAfter.filter((e) => !dlq(sc.backfills.b2.tenant, e.event_id, 'TL_BACKFILL_REVERTED')).map((e) => `${e.event_id} (TL_BACKFILL_REVERTED)`),
    ...sc.strays.filter((x) => !dlq(x.tenant, x.event.event_id, 'TL_BACKFILL_UNKNOWN')).map((x) => `${x.event.event_id} (TL_BACKFILL_UNKNOWN)`),
  ];
  if (missingDlq.length > 0) findings.push({ check: 'dead letters', message: `${missingDlq.length} refused backfill record(s) not in ${world.deadLetterTopic}: ${missingDlq.join(', ')}` });

  const tags = new Map<string, Set<string>>();
  const tag = (k: string, t: string) => tags.set(k, (tags.get(k) ?? new Set()).add(t));
  for (const k of keys) for (const e of [...members(k)]) tag(key(sc.backfills[k].tenant, e.session_id), k);
  for (const l of sc.legacy) tag(key(l.tenant, l.first.sessionId), 'legacy');
  for (const x of sc.strays) tag(key(x.tenant, x.event.session_id), 'stray record');
  appendix.push(`all ${diffs.length} differing sessions ([what touches it] field: model/actual):`);
  for (const d of diffs) appendix.push(`  ${d.key.replace('\u0000', '/')} [${[...(tags.get(d.key) ?? ['live only'])].join(',')}]: ${d.expected === null ? 'no row expected' : d.actual === null ? 'row missing' : d.fields.map((f) => `${f} ${showValue(d.expected?.[f])}/${showValue(d.actual?.[f])}`).join(', ')}`);
  for (const d of firstDiffs(diffs)) {
    details.push(describeSession(d));
    details.push(describeLedgerOfSession(d.key, expected, ledger));
  }
  details.unshift(
    `  topic: ${topicRecords.length} records (${split} sessions with records in two partitions); model: ${expected.ledger.size} ledger rows, ${expected.sessions.size} sessions, ${[...expected.ledger.values()].filter((r) => r.counts).length} counting events; actual: ${ledger.rows.size} ledger rows, ${sessions.size} sessions; ${deadLetters.length} dead letters`,
  );
  return { findings, details, appendix };
}
