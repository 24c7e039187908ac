import { Kafka, logLevel as KafkaLogLevel } from 'kafkajs';
import type { Logger } from 'pino';
import type { InRecord } from './kafka.js';

/** Where a range read starts on each partition. */
export type RangeStart = { earliest: true } | { timestampMs: number };

export interface RangeReadResult {
  records: number;
  /** Per partition: [first offset read, end offset (exclusive)] */
  partitions: Record<number, [string, string]>;
}

/**
 * Reads a bounded slice of a topic: from the earliest offset or the first offset at or after a
 * time, up to the end offsets the topic has when the read starts (later records are left to the
 * live consumer). Uses a consumer group of its own (`groupId`) so the live group is untouched, and
 * commits nothing: an interrupted read is simply started again.
 */
export async function readTopicRange(
  options: { brokers: readonly string[]; clientId: string; groupId: string; logger: Logger },
  topic: string,
  start: RangeStart,
  handler: (records: readonly InRecord[]) => Promise<void>,
  deadlineMs = 30 * 60_000,
): Promise<RangeReadResult> {
  const kafka = new Kafka({ clientId: options.clientId, brokers: [...options.brokers], logLevel: KafkaLogLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; high: string; low: string }[];
  let starts: Map<number, string>;
  try {
    ends = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, high: p.high, low: p.low }));
    if ('earliest' in start) {
      starts = new Map(ends.map((p) => [p.partition, p.low]));
    } else {
      const at = await admin.fetchTopicOffsetsByTimestamp(topic, start.timestampMs);
      starts = new Map(at.map((p) => [p.partition, p.offset === '-1' ? (ends.find((e) => e.partition === p.partition)?.high ?? '0') : p.offset]));
    }
  } finally {
    await admin.disconnect();
  }
  const pending = new Map(
    ends.filter((e) => BigInt(starts.get(e.partition) ?? e.high) < BigInt(e.high)).map((e) => [e.partition, BigInt(e.high)]),
  );
  const partitions: Record<number, [string, string]> = Object.fromEntries(ends.map((e) => [e.partition, [starts.get(e.partition) ?? e.high, e.high]]));
  if (pending.size === 0) return { records: 0, partitions };

  const consumer = kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false, maxBytesPerPartition: 4 * 1_048_576 });
  let records = 0;
  let failure: unknown = null;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const end = pending.get(batch.partition);
        if (end === undefined || failure !== null) return;
        const from = BigInt(starts.get(batch.partition) ?? '0');
        const slice = batch.messages
          .filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < end)
          .map((m) => ({ topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp, headers: headersOf(m.headers) }));
        try {
          if (slice.length > 0) await handler(slice);
        } catch (err) {
          failure = err;
          finish();
          return;
        }
        records += slice.length;
        await heartbeat();
        const last = batch.messages[batch.messages.length - 1];
        if (last !== undefined && BigInt(last.offset) + 1n >= end) {
          pending.delete(batch.partition);
          if (pending.size === 0) finish();
        }
      },
    });
    for (const [partition] of pending) consumer.seek({ topic, partition, offset: starts.get(partition) ?? '0' });
    const timer = setTimeout(() => {
      failure = new Error(`range read of ${topic} did not finish within ${deadlineMs} ms`);
      finish();
    }, deadlineMs);
    await done;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  if (failure !== null) throw failure;
  return { records, partitions };
}

function headersOf(headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}
