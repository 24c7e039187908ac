import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestTopics, testLogger, uid } from '../../../tests/helpers/world.js';
import { createKafka, type OutMessage } from './kafka.js';
import { freePort } from '../../../tests/helpers/faults/ports.js';


// KAFKA_PRODUCER_CLIENT=platformatic: what it writes must read back through the kafkajs consumer
// path unchanged, and a session's records must land where kafkajs would have put them.
const { brokers, kafka, topic } = await createTestTopics();
const platformatic = createKafka({ brokers, clientId: `tl-test-pf-${uid()}`, logger: testLogger(), producerClient: 'platformatic' }).publisher();
const kafkajs = kafka.publisher();
await Promise.all([platformatic.connect(), kafkajs.connect()]);
afterAll(() => Promise.all([platformatic.disconnect(), kafkajs.disconnect()]));

describe('the platformatic publisher', () => {
  it('writes keys, values and headers that kafkajs reads back, each key on the partition kafkajs gives it', async () => {
    const run = uid();
    const keys = [...Array.from({ length: 40 }, (_, i) => `s-${run}-${i}`), `sessão-${run}-✓`, ''];
    const messages = (writer: string): (OutMessage & { headers: Record<string, string> })[] =>
      keys.flatMap((key, k) =>
        Array.from({ length: 3 }, (_, i) => ({ key, value: randomBytes(150 + k), headers: { 'tl-tenant': `tenant-${k}`, 'tl-event-id': `${writer}-${k}-${i}`, 'tl-note': 'ünïcode ✓' } })),
      );
    const written = [...messages('pf'), { key: null, value: Buffer.from('no key'), headers: { 'tl-event-id': 'pf-unkeyed' } }];
    await platformatic.publish(topic, written);
    await kafkajs.publish(topic, messages('kjs'));

    const records = await kafka.readTopic(topic);
    expect(records).toHaveLength(written.length + keys.length * 3);
    const byEventId = new Map(records.map((r) => [r.headers['tl-event-id'], r]));
    for (const m of written) {
      const r = byEventId.get(m.headers['tl-event-id']);
      expect(r, m.headers['tl-event-id']).toBeDefined();
      expect(r?.key === null ? null : r?.key.toString()).toBe(m.key);
      expect(r?.value?.equals(m.value)).toBe(true);
      expect(r?.headers).toEqual(m.headers);
    }
    // Every record of a key on one partition, and the same one whichever client wrote it.
    const partitionsOfKey = new Map<string, Set<number>>();
    for (const r of records.filter((r) => r.key !== null)) {
      const key = r.key?.toString() ?? '';
      partitionsOfKey.set(key, (partitionsOfKey.get(key) ?? new Set()).add(r.partition));
    }
    expect(partitionsOfKey.size).toBe(keys.length);
    for (const [key, partitions] of partitionsOfKey) expect([...partitions], key).toHaveLength(1);
    // The keys spread over all three partitions (a partitioner that sends everything to 0 fails here).
    expect(new Set([...partitionsOfKey.values()].map((p) => [...p][0]))).toEqual(new Set([0, 1, 2]));
  });

  it('throws TL_KAFKA_UNAVAILABLE within the timeout when no broker is there', async () => {
    const down = createKafka({ brokers: [`127.0.0.1:${await freePort()}`], clientId: 'tl-test-pf-down', logger: testLogger(), producerClient: 'platformatic' }).publisher();
    try {
      for (const timeoutMs of [500, 5000]) {
        const started = Date.now();
        const err = await down.publish(topic, [{ key: 'k', value: Buffer.from('v') }], timeoutMs).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'TL_KAFKA_UNAVAILABLE', retriable: true, statusCode: 503 });
        expect(Date.now() - started).toBeLessThan(timeoutMs + 500);
      }
      await expect(down.connect()).rejects.toMatchObject({ code: 'TL_KAFKA_UNAVAILABLE', retriable: true });
    } finally {
      await down.disconnect();
    }
  });
});
