import type { EventCodec } from '@traceledger/contract';
import type { InRecord, KafkaPort } from '@traceledger/kafka';
import { registerCleanup } from './cleanup.js';
import { uid, waitFor } from './world.js';

export interface TopicReader {
  /** Every record read so far, in arrival order. */
  records: InRecord[];
  /** Event ids of the records read so far (records that do not decode are skipped). */
  eventIds(): string[];
  /** Waits until everything on the topic now has been read (this reader's group has no lag). */
  caughtUp(timeoutMs?: number): Promise<void>;
}

/** Reads `topic` from the beginning in a consumer group of its own, stopped after the test file (or the test; see ./cleanup.ts). */
export async function topicReader(kafka: KafkaPort, topic: string, codec: EventCodec): Promise<TopicReader> {
  const records: InRecord[] = [];
  const group = `reader-${uid()}`;
  const consumer = kafka.consumer({ groupId: group });
  registerCleanup(() => consumer.stop());
  await consumer.start(topic, async (batch) => {
    records.push(...batch);
  });
  return {
    records,
    eventIds: () =>
      records.flatMap((r) => {
        try {
          return r.value === null ? [] : [codec.decode(r.value).event.eventId];
        } catch {
          return [];
        }
      }),
    async caughtUp(timeoutMs = 30_000) {
      await waitFor(async () => (await kafka.consumerLag(group, topic)) === 0, { timeoutMs, intervalMs: 100, what: `reader ${group} to catch up on ${topic}` });
    },
  };
}
