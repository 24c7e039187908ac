import { Partitioners } from 'kafkajs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2 } from './platformatic-publisher.js';

// The consumer folds a session from one partition: both publishers must map a key to the
// partition kafkajs's DefaultPartitioner (Java's murmur2) gives it.
describe('murmur2', () => {
  const partitionMetadata = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId, partitionErrorCode: 0, leader: 1, replicas: [1], isr: [1], offlineReplicas: [] }));

  it('puts every key on the partition kafkajs puts it on', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (key, partitions) => {
        const want = kafkajs({ topic: 't', partitionMetadata: partitionMetadata(partitions), message: { key, value: null } });
        expect((murmur2(Buffer.from(key)) & 0x7fffffff) % partitions).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  it("matches Java's Utils.murmur2 on known values", () => {
    // From Kafka's UtilsTest.testMurmur2.
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
  });
});
