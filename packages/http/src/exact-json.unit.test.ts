import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, exactJsonStringify } from './exact-json.js';

const decimalTextArb = fc
  .record({ negative: fc.boolean(), whole: fc.stringMatching(/^(0|[1-9]\d{0,29})$/), fraction: fc.stringMatching(/^(\d{0,8}[1-9])?$/) })
  .map(({ negative, whole, fraction }) => `${negative && (whole !== '0' || fraction !== '') ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`);

/** JSON-like trees that may hold Decimals anywhere a number could be. */
const { tree: treeArb } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (d === 0 ? 0 : d)), // JSON has no -0
    fc.string(),
    decimalTextArb.map((t) => new Decimal(t)),
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('tree'), { maxKeys: 4 }),
  ),
}));

/** The same tree with each Decimal replaced by the number it names. */
function asNumbers(v: unknown): unknown {
  if (v instanceof Decimal) return Number(v.text);
  if (Array.isArray(v)) return v.map(asNumbers);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asNumbers(x)]));
  return v;
}

function decimalsIn(v: unknown): string[] {
  if (v instanceof Decimal) return [v.text];
  if (Array.isArray(v)) return v.flatMap(decimalsIn);
  if (v !== null && typeof v === 'object') return Object.values(v).flatMap(decimalsIn);
  return [];
}

describe('exactJsonStringify', () => {
  it('writes a Decimal as a bare JSON number with exactly its digits', () => {
    expect(exactJsonStringify({ total: new Decimal('3.83') })).toBe('{"total":3.83}');
    // 0.1 + 0.2 as a float would print 0.30000000000000004.
    expect(exactJsonStringify({ cost: new Decimal('0.3'), n: 0.1 + 0.2 })).toBe('{"cost":0.3,"n":0.30000000000000004}');
    expect(exactJsonStringify([new Decimal('-0.000000001'), new Decimal('12345678901234567890.123456789')])).toBe(
      '[-0.000000001,12345678901234567890.123456789]',
    );
    expect(exactJsonStringify(new Decimal('0'))).toBe('0');
    // JSON.stringify would quote it, and a client would read a string.
    expect(JSON.stringify({ total: new Decimal('3.83') })).toBe('{"total":"3.83"}');
  });

  it('parses back with JSON.parse to the numbers the decimals name', () => {
    const body = { sessions: [{ id: 's1', cost: new Decimal('0.0125') }], total: new Decimal('3.83'), at: new Date(Date.UTC(2026, 10, 25)) };
    expect(JSON.parse(exactJsonStringify(body))).toEqual({ sessions: [{ id: 's1', cost: 0.0125 }], total: 3.83, at: '2026-11-25T00:00:00.000Z' });
  });

  it('equals JSON.stringify for values without Decimals', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(exactJsonStringify(v)).toBe(JSON.stringify(v));
      }),
    );
    const awkward = { a: undefined, f: () => 1, d: new Date(0), arr: [undefined, () => 1, null, new Date(1)], nan: NaN, inf: -Infinity, nested: { e: '\u2028"\\' } };
    expect(exactJsonStringify(awkward)).toBe(JSON.stringify(awkward));
  });

  it('writes valid JSON holding every decimal verbatim, for any tree', () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const text = exactJsonStringify(tree);
        expect(JSON.parse(text)).toEqual(asNumbers(tree));
        for (const d of decimalsIn(tree)) expect(text).toContain(d);
      }),
    );
  });

  it('accepts only plain decimal text in a Decimal', () => {
    for (const bad of ['', '1e-7', '.5', '5.', '+1', 'NaN', '0x10', '1,5', ' 1']) {
      expect(() => new Decimal(bad), bad).toThrow(TypeError);
    }
  });
});
