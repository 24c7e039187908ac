import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedTokenBuckets } from './rate-limit.js';

describe('KeyedTokenBuckets', () => {
  it('lets a key spend its capacity at once, then refills at the rate', () => {
    const b = new KeyedTokenBuckets(2, 4);
    const t0 = 1_000_000;
    expect([1, 2, 3, 4].map(() => b.take('k', 1, t0))).toEqual([0, 0, 0, 0]);
    expect(b.take('k', 1, t0)).toBe(500);
    expect(b.take('k', 1, t0 + 499)).toBe(1);
    expect(b.take('k', 1, t0 + 500)).toBe(0);
    // Never above capacity, however long the key was idle.
    expect(b.take('k', 4, t0 + 3_600_000)).toBe(0);
    expect(b.take('k', 1, t0 + 3_600_000)).toBe(500);
  });

  it('keeps keys apart', () => {
    const b = new KeyedTokenBuckets(1, 1);
    expect(b.take('a', 1, 0)).toBe(0);
    expect(b.take('a', 1, 0)).toBe(1000);
    expect(b.take('b', 1, 0)).toBe(0);
  });

  it('takes nothing when it refuses, and lets a request bigger than the bucket drain it whole', () => {
    const b = new KeyedTokenBuckets(100, 100);
    expect(b.take('k', 60, 0)).toBe(0);
    expect(b.take('k', 60, 0)).toBe(200);
    expect(b.take('k', 40, 0)).toBe(0);
    expect(b.take('k', 1000, 1000)).toBe(0);
    expect(b.take('k', 1, 1000)).toBe(10);
  });

  it('never lets more through than capacity + rate × time, whatever the pattern', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 300 }), n: fc.integer({ min: 1, max: 20 }) }), { maxLength: 200 }),
        (rate, capacity, steps) => {
          const b = new KeyedTokenBuckets(rate, capacity);
          let now = 0;
          let passed = 0;
          for (const { dt, n } of steps) {
            now += dt;
            if (b.take('k', n, now) === 0) passed += Math.min(n, capacity);
          }
          expect(passed).toBeLessThanOrEqual(capacity + (rate * now) / 1000 + 1e-9);
        },
      ),
    );
  });

  it('forgets idle keys instead of growing without bound', () => {
    const b = new KeyedTokenBuckets(1, 1, 10);
    for (let i = 0; i < 10; i++) b.take(`k${i}`, 1, 0);
    // All ten are mid-burst at t=0; at t=5 s they have refilled and are forgotten for the eleventh.
    expect(b.take('k10', 1, 5000)).toBe(0);
    expect((b as unknown as { buckets: Map<string, unknown> }).buckets.size).toBe(1);
  });
});
