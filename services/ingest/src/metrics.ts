import { Counter, Histogram, type Registry } from 'prom-client';

/** What ingest counts for `/metrics`; no label carries a tenant or a key. */
export interface IngestMetrics {
  /** Events the broker acknowledged, by the route they came in on. */
  eventsAccepted: Counter<'route'>;
  /** Events refused, by code: each event's own (TL_EVENT_*), or the request's when it failed whole. */
  eventsRejected: Counter<'code'>;
  /** Time from handing a request's records to the producer to the broker's acknowledgement. */
  produceDuration: Histogram<'outcome'>;
  /** OTLP spans by outcome: accepted, rejected (by the contract), ignored (no GenAI attributes). */
  otlpSpans: Counter<'outcome'>;
}

export function ingestMetrics(registry: Registry): IngestMetrics {
  return {
    eventsAccepted: new Counter({
      name: 'traceledger_ingest_events_accepted_total',
      help: 'Events acknowledged by Kafka, by route',
      labelNames: ['route'],
      registers: [registry],
    }),
    eventsRejected: new Counter({
      name: 'traceledger_ingest_events_rejected_total',
      help: 'Events not accepted, by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    produceDuration: new Histogram({
      name: 'traceledger_ingest_produce_duration_seconds',
      help: 'Latency of publishing a request to Kafka with acks=all, by outcome (ok, error)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    otlpSpans: new Counter({
      name: 'traceledger_ingest_otlp_spans_total',
      help: 'OTLP spans received on /v1/traces, by outcome: accepted, rejected, ignored (no gen_ai.* attribute)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
