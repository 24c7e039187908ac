import type { Logger } from 'pino';
import type { EventCodec } from '@traceledger/contract';
import { TraceLedgerError, type PriceOf } from '@traceledger/core';
import { applyEvents, type ApplyResult, type Pool, type SourcedEvent } from '@traceledger/db';
import type { BatchConsumer, BatchContext, InRecord, OutMessage, Publisher } from '@traceledger/kafka';
import { ConsumerError, ConsumerErrorCode, isTransientDbError } from './errors.js';
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
  priceOf?: PriceOf;
  /** Fault-test hooks (see test-hooks.ts); none in production. */
  hooks?: BatchHooks;
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

export interface ConsumerService {
  start(): Promise<void>;
  /** Lets the batch in hand finish and commit, then leaves the group. */
  stop(): Promise<void>;
  onFatal(listener: (err: Error) => void): void;
}

/**
 * Folds one fetched batch: decodes every record, sends the ones that cannot be read or break
 * the contract to the dead-letter topic (with reason, partition and offset), and folds the rest
 * into trace_sessions in one transaction. Returns only when both are durable, so the caller
 * may commit the batch's offsets.
 */
export async function handleBatch(
  deps: Pick<ConsumerDeps, 'deadLetters' | 'pool' | 'codec' | 'logger' | 'priceOf' | 'hooks'>,
  options: ConsumerOptions,
  records: readonly InRecord[],
  ctx: Pick<BatchContext, 'heartbeat' | 'isActive'>,
): Promise<void> {
  const good: SourcedEvent[] = [];
  const dead: OutMessage[] = [];
  for (const r of records) {
    try {
      if (r.value === null) throw new TraceLedgerError('TL_RECORD_EMPTY', 'record has no value (tombstone)');
      const { event } = deps.codec.decode(r.value);
      const backfillId = r.headers['tl-backfill'];
      good.push({ event, partition: r.partition, offset: r.offset, ...(backfillId ? { backfillId } : {}) });
    } catch (err) {
      if (!(err instanceof TraceLedgerError)) throw err;
      deps.logger.warn({ code: err.code, topic: r.topic, partition: r.partition, offset: r.offset, reason: err.message }, 'record sent to dead-letter topic');
      dead.push({
        key: r.key === null ? null : r.key.toString('utf8'),
        value: r.value ?? Buffer.alloc(0),
        headers: {
          'tl-dlq-code': err.code,
          'tl-dlq-reason': err.message,
          'tl-source-topic': r.topic,
          'tl-source-partition': String(r.partition),
          'tl-source-offset': r.offset,
          'tl-dead-at': new Date().toISOString(),
        },
      });
    }
  }
  if (dead.length > 0) await deps.deadLetters.publish(options.deadLetterTopic, dead);
  if (good.length === 0) return;
  await ctx.heartbeat();
  await deps.hooks?.beforeFold?.();
  const first = records[0];
  const last = records[records.length - 1];
  const result = await foldWithRetry(deps, options, good, ctx, { partition: first?.partition, fromOffset: first?.offset, toOffset: last?.offset });
  await deps.hooks?.afterFold?.();
  deps.logger.info(
    { partition: first?.partition, fromOffset: first?.offset, toOffset: last?.offset, ...result, deadLetters: dead.length },
    'folded batch',
  );
}

/**
 * Applies the batch, retrying for as long as the database is unavailable (restarting, refusing
 * connections, dropping them mid-transaction) and the batch is still ours: its offsets stay
 * uncommitted meanwhile, and heartbeats keep the partition. A transaction cut off mid-COMMIT may
 * have committed; the retry then finds every event in the ledger and changes nothing. An error
 * retrying cannot fix is thrown as not retriable, so the consumer stops for good and says why.
 */
async function foldWithRetry(
  deps: Pick<ConsumerDeps, 'pool' | 'logger' | 'priceOf'>,
  options: ConsumerOptions,
  events: readonly SourcedEvent[],
  ctx: Pick<BatchContext, 'heartbeat' | 'isActive'>,
  where: { partition: number | undefined; fromOffset: string | undefined; toOffset: string | undefined },
): Promise<ApplyResult> {
  const backoff = options.dbRetry ?? DEFAULT_DB_RETRY;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await applyEvents(deps.pool, events, deps.priceOf);
      if (attempt > 1) deps.logger.info({ ...where, attempts: attempt }, 'database back; batch folded');
      return result;
    } catch (err) {
      if (!isTransientDbError(err)) {
        throw new ConsumerError(ConsumerErrorCode.FoldFailed, `the database refused the batch of partition ${where.partition} offsets ${where.fromOffset}..${where.toOffset}, and retrying cannot fix it`, {
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
