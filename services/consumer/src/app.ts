import type { Logger } from 'pino';
import { deadLetterRecord, decodeRecord, type EventCodec, type WireMessage } from '@traceledger/contract';
import {
  applyEvents,
  classifyFailure,
  isolateRefused,
  reportedOnly,
  type ApplyResult,
  type LedgerHooks,
  type Pool,
  type Pricing,
  type SourcedEvent,
} from '@traceledger/db';
import type { BatchConsumer, BatchContext, InRecord, Publisher } from '@traceledger/kafka';
import { ConsumerError, ConsumerErrorCode } from './errors.js';
import type { ConsumerMetrics } from './metrics.js';
import type { BatchHooks } from './test-hooks.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

/** What the consumer needs from the outside world. */
export interface ConsumerDeps {
  consumer: BatchConsumer;
  /** Publishes to the dead-letter topic. */
  deadLetters: Publisher;
  pool: Pool;
  codec: EventCodec;
  logger: Logger;
  /** How new usage events are priced (default: reported costs only). */
  pricing?: Pricing;
  /** Fault-test hooks (see test-hooks.ts); none in production. */
  hooks?: BatchHooks;
  /** Batch sizes, fold durations, events and dead letters for `/metrics` (see metrics.ts). */
  metrics?: ConsumerMetrics;
}

export interface ConsumerOptions {
  topic: string;
  deadLetterTopic: string;
  /**
   * Exit (onFatal, TL_CONSUMER_STALLED) when no batch completes for this long while records
   * wait on this member's partitions, in ms; 0 or absent: no watchdog.
   */
  watchdogMs?: number;
  /** Backoff between attempts of a batch while the database is unavailable, in ms. */
  dbRetry?: { initialMs: number; maxMs: number };
}

const DEFAULT_DB_RETRY = { initialMs: 200, maxMs: 5000 };

/** The dead-letter code of a record the database refused to store. */
export const REFUSED_BY_DATABASE = 'TL_RECORD_REFUSED_BY_DATABASE';

export interface ConsumerService {
  start(): Promise<void>;
  /** Lets the batch in hand finish and commit, then leaves the group. */
  stop(): Promise<void>;
  onFatal(listener: (err: Error) => void): void;
}

interface Readable {
  record: InRecord;
  sourced: SourcedEvent;
}

/**
 * Folds one fetched batch. Every record ends in exactly one place: folded into the ledger, or in
 * the dead-letter topic with its reason — when it cannot be read or breaks the contract, when the
 * backfill lifecycle refuses it, or when the database refuses to store it (the batch is split in
 * halves, each in its own transaction, until exactly the refused records are found; the rest
 * folds). Only unavailable infrastructure stalls the partition (retried in place); an error no
 * record can be blamed for is thrown as not retriable. Returns only when the fold and the dead
 * letters are durable, so the caller may commit the batch's offsets.
 */
export async function handleBatch(
  deps: Pick<ConsumerDeps, 'deadLetters' | 'pool' | 'codec' | 'logger' | 'pricing' | 'hooks' | 'metrics'>,
  options: ConsumerOptions,
  records: readonly InRecord[],
  ctx: Pick<BatchContext, 'heartbeat' | 'isActive'>,
): Promise<void> {
  const endFold = deps.metrics?.foldDuration.startTimer();
  const readable: Readable[] = [];
  const dead: WireMessage[] = [];
  const deadCodes: string[] = [];
  const bury = (r: InRecord, why: { code: string; reason: string; sqlstate?: string }): void => {
    deps.logger.warn({ code: why.code, sqlstate: why.sqlstate, topic: r.topic, partition: r.partition, offset: r.offset, reason: why.reason }, 'record sent to dead-letter topic');
    dead.push(deadLetterRecord(r, why));
    deadCodes.push(why.code);
  };
  for (const r of records) {
    const d = decodeRecord(deps.codec, r);
    if (!d.ok) bury(r, d);
    else readable.push({ record: r, sourced: { event: d.event, partition: r.partition, offset: r.offset, ...(d.backfillId === null ? {} : { backfillId: d.backfillId }) } });
  }
  const first = records[0];
  const last = records[records.length - 1];
  const where = { partition: first?.partition, fromOffset: first?.offset, toOffset: last?.offset };
  const total: Omit<ApplyResult, 'refused'> = { applied: 0, duplicates: 0, sessions: 0 };
  let transactions = 0;
  if (readable.length > 0) {
    await ctx.heartbeat();
    await deps.hooks?.beforeFold?.();
    const { results, refused } = await isolateRefused(readable, async (subset) => {
      transactions += 1;
      return foldWithRetry(deps, options, subset.map((x) => x.sourced), ctx, where);
    });
    for (const { items, result } of results) {
      total.applied += result.applied;
      total.duplicates += result.duplicates;
      total.sessions += result.sessions;
      for (const x of result.refused) {
        const item = items[x.index];
        if (item !== undefined) bury(item.record, x);
      }
    }
    for (const x of refused) {
      bury(x.item.record, { code: REFUSED_BY_DATABASE, reason: `the database refused the record: ${x.reason}`, ...(x.sqlstate === null ? {} : { sqlstate: x.sqlstate }) });
    }
  }
  if (dead.length > 0) await deps.deadLetters.publish(options.deadLetterTopic, dead);
  if (readable.length > 0) {
    await deps.hooks?.afterFold?.();
    deps.logger.info({ ...where, ...total, deadLetters: dead.length, transactions }, 'folded batch');
  }
  // Counted once the batch is durable: a batch retried after a failure is not counted twice.
  const m = deps.metrics;
  if (m !== undefined) {
    m.batchRecords.observe(records.length);
    m.events.inc({ outcome: 'applied' }, total.applied);
    m.events.inc({ outcome: 'duplicate' }, total.duplicates);
    for (const code of deadCodes) m.deadLetters.inc({ code });
    endFold?.();
  }
}

/**
 * Applies a batch (or part of one), retrying for as long as the database is unavailable
 * (restarting, refusing connections, dropping them mid-transaction) and the batch is still ours:
 * its offsets stay uncommitted meanwhile, and heartbeats keep the partition. A transaction cut off
 * mid-COMMIT may have committed; the retry then finds every event in the ledger and changes
 * nothing. A refusal of the data is rethrown as it is, for `isolateRefused` to split the batch; any
 * other error retrying cannot fix is thrown as not retriable, so the consumer stops and says why.
 */
async function foldWithRetry(
  deps: Pick<ConsumerDeps, 'pool' | 'logger' | 'pricing' | 'hooks'>,
  options: ConsumerOptions,
  events: readonly SourcedEvent[],
  ctx: Pick<BatchContext, 'heartbeat' | 'isActive'>,
  where: { partition: number | undefined; fromOffset: string | undefined; toOffset: string | undefined },
): Promise<ApplyResult> {
  const backoff = options.dbRetry ?? DEFAULT_DB_RETRY;
  const ledgerHooks: LedgerHooks | undefined = deps.hooks?.beforeCommit ? { beforeCommit: () => deps.hooks?.beforeCommit?.() ?? Promise.resolve() } : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await applyEvents(deps.pool, events, deps.pricing ?? reportedOnly, ledgerHooks);
      if (attempt > 1) deps.logger.info({ ...where, attempts: attempt }, 'database back; batch folded');
      return result;
    } catch (err) {
      const kind = classifyFailure(err);
      if (kind === 'record') throw err;
      if (kind === 'fatal') {
        throw new ConsumerError(ConsumerErrorCode.FoldFailed, `the database refused the batch of partition ${where.partition} offsets ${where.fromOffset}..${where.toOffset} for a reason no record can be blamed for, and retrying cannot fix it`, {
          cause: err,
          retriable: false,
        });
      }
      const waitMs = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 20));
      deps.logger.warn({ err, ...where, attempt, retryInMs: waitMs }, 'database unavailable; retrying the batch, offsets not committed');
      // Wait in short steps, heartbeating, and give the batch up (uncommitted) if it is no longer ours.
      const until = Date.now() + waitMs;
      do {
        if (!ctx.isActive()) {
          throw new ConsumerError(ConsumerErrorCode.BatchAbandoned, 'stopping or partition reassigned while the database was unavailable; the batch stays uncommitted', {
            cause: err,
            retriable: true,
          });
        }
        await ctx.heartbeat();
        await sleep(Math.min(500, Math.max(0, until - Date.now())));
      } while (Date.now() < until);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The consumer service: a consumer group member folding the topic into trace_sessions. */
export function buildConsumerService(deps: ConsumerDeps, options: ConsumerOptions): ConsumerService {
  const fatalListeners: ((err: Error) => void)[] = [];
  let watchdog: Watchdog | null = null;
  deps.consumer.onFatal((err) => {
    for (const l of fatalListeners) l(err);
  });
  deps.consumer.onCommitted(() => watchdog?.progress());
  return {
    async start() {
      await deps.deadLetters.connect();
      await deps.consumer.start(options.topic, (records, ctx) => handleBatch(deps, options, records, ctx));
      if (options.watchdogMs) {
        const timeoutMs = options.watchdogMs;
        watchdog = startWatchdog({
          timeoutMs,
          lag: () => deps.consumer.lag(),
          onStuck: ({ idleMs, lag }) => {
            const waiting = lag === null ? 'an unknown number of records (not in the group, or the broker does not answer)' : `${lag} records`;
            const err = new ConsumerError(ConsumerErrorCode.Stalled, `watchdog: no batch completed in ${idleMs} ms (limit ${timeoutMs} ms) while ${waiting} wait`);
            for (const l of fatalListeners) l(err);
          },
        });
      }
    },
    async stop() {
      watchdog?.stop();
      await deps.consumer.stop();
      await deps.deadLetters.disconnect();
    },
    onFatal(listener) {
      fatalListeners.push(listener);
    },
  };
}
