import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createTestTopics } from '../../../tests/helpers/world.js';
import type { InRecord } from './kafka.js';

// The port's one read path (replay, backfill tools, dead letters): a bounded slice, in order per
// partition, from the start or from a time, on a group of its own that is gone afterwards.
const { brokers, kafka, topic } = await createTestTopics();
const publisher = kafka.publisher();
await publisher.connect();

async function groups(): Promise<string[]> {
  const admin = new Kafka({ clientId: 'tl-test-groups', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map((g) => g.groupId);
  } finally {
    await admin.disconnect();
  }
}

const send = (keys: string[]) => publisher.publish(topic, keys.map((k) => ({ key: k, value: Buffer.from(k) })));

describe('KafkaPort.readRange', () => {
  it('reads the topic as it was at the start, in offset order per partition, and deletes its group', async () => {
    await send(Array.from({ length: 30 }, (_, i) => `early-${i}`));
    const seen: InRecord[] = [];
    const groupId = `tl-test-range-${Date.now()}`;
    const result = await kafka.readRange(
      topic,
      { earliest: true },
      async (records) => {
        seen.push(...records);
        // Written during the read: after the end offsets taken at the start, so not read.
        if (seen.length === records.length) await send(['during-1', 'during-2']);
      },
      { groupId },
    );
    expect(result.records).toBe(30);
    expect(seen.map((r) => r.value?.toString()).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `early-${i}`).sort());
    for (const p of [0, 1, 2]) {
      const offsets = seen.filter((r) => r.partition === p).map((r) => BigInt(r.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
    }
    expect(await groups()).not.toContain(groupId);
  });

  it('starts at a time, stops early when the handler says so, and readTopic keeps to maxRecords', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await send(['late-1', 'late-2', 'late-3']);
    const late: string[] = [];
    await kafka.readRange(topic, { timestampMs: from }, async (records) => void late.push(...records.map((r) => r.value?.toString() ?? '')));
    expect(late.sort()).toEqual(['late-1', 'late-2', 'late-3']);

    let batches = 0;
    const stopped = await kafka.readRange(topic, { earliest: true }, async () => {
      batches += 1;
      return false;
    });
    expect(batches).toBe(1);
    expect(stopped.records).toBeLessThan(35);

    const five = await kafka.readTopic(topic, { maxRecords: 5 });
    expect(five).toHaveLength(5);
  });
});
