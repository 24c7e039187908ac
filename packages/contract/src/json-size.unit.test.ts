import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonByteLength } from './json-size.js';

describe('jsonByteLength', () => {
  it('equals the UTF-8 length of JSON.stringify for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jsonByteLength(v)).toBe(Buffer.byteLength(JSON.stringify(v), 'utf8'));
      }),
      { numRuns: 500 },
    );
  });

  it('counts escapes, multi-byte characters and lone surrogates as JSON.stringify writes them', () => {
    for (const v of ['\u0000\n"\\', 'é€😀', '\ud800', { 'ké\ty': [1.5e-7, -0, 1e21, true, false, null] }, [], {}, [[]], { a: {} }]) {
      expect(jsonByteLength(v), JSON.stringify(v)).toBe(Buffer.byteLength(JSON.stringify(v), 'utf8'));
    }
  });

  it('handles nesting deeper than JSON.stringify can, without recursion', () => {
    const depth = 200_000;
    const deep = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(jsonByteLength(deep)).toBe(2 * depth);
  });

  it('stops counting soon after the total passes stopAbove', () => {
    const strings = Array.from({ length: 1000 }, () => 'x'.repeat(100));
    expect(jsonByteLength(strings, 1000)).toBeGreaterThan(1000);
    expect(jsonByteLength(strings, 1000)).toBeLessThan(1200);
    const keys = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`.padEnd(100, 'x'), 1]));
    expect(jsonByteLength(keys, 1000)).toBeGreaterThan(1000);
    expect(jsonByteLength(keys, 1000)).toBeLessThan(1200);
    expect(jsonByteLength(strings, 1_000_000)).toBe(JSON.stringify(strings).length);
  });
});
