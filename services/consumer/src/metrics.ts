import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchConsumer } from '@traceledger/kafka';

/** What the consumer counts for `/metrics`; no label carries a tenant or a key. */
export interface ConsumerMetrics {
  /** Records per fetched batch. */
  batchRecords: Histogram;
  /** Time to fold a batch: decode, ledger transactions (with retries and splits), dead letters. */
  foldDuration: Histogram;
  /** Events recorded in the ledger for the first time, and re-deliveries that changed nothing. */
  events: Counter<'outcome'>;
  /** Records sent to the dead-letter topic, by code. */
  deadLetters: Counter<'code'>;
}

/**
 * The consumer's metrics in `registry`, with the lag of each partition this member owns read from
 * the broker at scrape time (`traceledger_consumer_lag_records`; no series while it is not in the
 * group or the broker does not answer: an unknown lag is not a zero).
 */
export function consumerMetrics(registry: Registry, consumer: Pick<BatchConsumer, 'partitionLag'>): ConsumerMetrics {
  new Gauge({
    name: 'traceledger_consumer_lag_records',
    help: 'Records on each owned partition not yet committed by this consumer group',
    labelNames: ['partition'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of (await consumer.partitionLag()) ?? []) this.set({ partition: String(p.partition) }, p.lag);
    },
  });
  return {
    batchRecords: new Histogram({
      name: 'traceledger_consumer_batch_records',
      help: 'Records per batch fetched from Kafka',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    foldDuration: new Histogram({
      name: 'traceledger_consumer_fold_duration_seconds',
      help: 'Time to fold one batch into the ledger and trace_sessions, dead letters included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    events: new Counter({
      name: 'traceledger_consumer_events_total',
      help: 'Events read by outcome: applied (new in the ledger) or duplicate (already there, changed nothing)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'traceledger_consumer_dead_letters_total',
      help: 'Records sent to the dead-letter topic, by code',
      labelNames: ['code'],
      registers: [registry],
    }),
  };
}
