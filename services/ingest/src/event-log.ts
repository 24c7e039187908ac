import type { EventCodec } from '@traceledger/contract';
import { eventRecord } from '@traceledger/contract';
import type { TraceEvent } from '@traceledger/core';
import type { OutMessage, Publisher } from '@traceledger/kafka';
import { IngestError, IngestErrorCode } from './errors.js';
import type { IngestMetrics } from './metrics.js';

/**
 * The topic as ingest writes to it: events encoded as Avro records and published with acks=all.
 * `publish` resolves only once Kafka acknowledged every record; otherwise it throws a 503
 * IngestError with Retry-After, and none of the events may be reported as accepted.
 */
export class EventLog {
  constructor(
    private readonly deps: {
      publisher: Publisher;
      codec: EventCodec;
      topic: string;
      metrics: IngestMetrics;
      now: () => number;
      publishTimeoutMs: number;
      retryAfterSeconds: number;
    },
  ) {}

  async publish(events: readonly TraceEvent[]): Promise<void> {
    const { deps } = this;
    const ingestedAt = deps.now();
    const messages: OutMessage[] = events.map((e) => eventRecord(deps.codec, e, ingestedAt));
    const deadline = Date.now() + deps.publishTimeoutMs;
    const endTimer = deps.metrics.produceDuration.startTimer();
    try {
      // In sends of at most PUBLISH_CHUNK_BYTES, in order: one send puts all of a partition's
      // records in one record batch, and a batch over the broker's message.max.bytes (1 MB by
      // default) is refused every time. A 1 MiB body of one session encodes to more than that.
      for (const chunk of chunksOfBytes(messages, PUBLISH_CHUNK_BYTES)) {
        await deps.publisher.publish(deps.topic, chunk, Math.max(1, deadline - Date.now()));
      }
      endTimer({ outcome: 'ok' });
    } catch (cause) {
      endTimer({ outcome: 'error' });
      deps.metrics.eventsRejected.inc({ code: IngestErrorCode.KafkaUnavailable }, events.length);
      throw new IngestError(
        IngestErrorCode.KafkaUnavailable,
        `the event log is not accepting writes right now; nothing from this request is counted as accepted, retry after ${deps.retryAfterSeconds} s`,
        503,
        { cause, retriable: true, retryAfterSeconds: deps.retryAfterSeconds },
      );
    }
  }
}

/** Bytes of messages per send to Kafka: well under the broker's default message.max.bytes (1048588). */
const PUBLISH_CHUNK_BYTES = 512 * 1024;
/** Kafka's own bytes around each record (lengths, offsets, timestamps, header names), generously. */
const RECORD_OVERHEAD_BYTES = 64;

/** `messages` cut into runs of at most `maxBytes` (a single larger message is a run of its own), in order. */
function chunksOfBytes(messages: readonly OutMessage[], maxBytes: number): OutMessage[][] {
  const chunks: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = RECORD_OVERHEAD_BYTES + m.value.length + (m.key === null ? 0 : Buffer.byteLength(m.key));
    for (const [k, v] of Object.entries(m.headers ?? {})) size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
