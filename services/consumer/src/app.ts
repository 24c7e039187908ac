import type { Logger } from 'pino';
import type { EventCodec } from '@traceledger/contract';
import { TraceLedgerError, type PriceOf } from '@traceledger/core';
import { applyEvents, type Pool, type SourcedEvent } from '@traceledger/db';
import type { BatchConsumer, BatchContext, InRecord, OutMessage, Publisher } from '@traceledger/kafka';

/** What the consumer needs from the outside world. */
export interface ConsumerDeps {
  consumer: BatchConsumer;
  /** Publishes to the dead-letter topic. */
  deadLetters: Publisher;
  pool: Pool;
  codec: EventCodec;
  logger: Logger;
  priceOf?: PriceOf;
}

export interface ConsumerOptions {
  topic: string;
  deadLetterTopic: string;
}

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
  deps: Pick<ConsumerDeps, 'deadLetters' | 'pool' | 'codec' | 'logger' | 'priceOf'>,
  options: ConsumerOptions,
  records: readonly InRecord[],
  ctx: Pick<BatchContext, 'heartbeat'>,
): Promise<void> {
  const good: SourcedEvent[] = [];
  const dead: OutMessage[] = [];
  for (const r of records) {
    try {
      if (r.value === null) throw new TraceLedgerError('TL_RECORD_EMPTY', 'record has no value (tombstone)');
      const { event } = deps.codec.decode(r.value);
      good.push({ event, partition: r.partition, offset: r.offset });
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
  const result = await applyEvents(deps.pool, good, deps.priceOf);
  const first = records[0];
  const last = records[records.length - 1];
  deps.logger.info(
    { partition: first?.partition, fromOffset: first?.offset, toOffset: last?.offset, ...result, deadLetters: dead.length },
    'folded batch',
  );
}

/** The consumer service: a consumer group member folding the topic into trace_sessions. */
export function buildConsumerService(deps: ConsumerDeps, options: ConsumerOptions): ConsumerService {
  return {
    async start() {
      await deps.deadLetters.connect();
      await deps.consumer.start(options.topic, (records, ctx) => handleBatch(deps, options, records, ctx));
    },
    async stop() {
      await deps.consumer.stop();
      await deps.deadLetters.disconnect();
    },
    onFatal(listener) {
      deps.consumer.onFatal(listener);
    },
  };
}
