import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceLedgerError } from './errors.js';
import { MAX_EVENT_NANOS, MONEY_SCALE, formatMoney, normaliseDecimalText, parseMoney, sumMoney } from './money.js';

function moneyError(f: () => unknown): TraceLedgerError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TraceLedgerError);
    return err as TraceLedgerError;
  }
  throw new Error('expected TL_MONEY_INVALID, nothing was thrown');
}

describe('parseMoney', () => {
  it('reads decimal strings and JSON numbers into exact nano-units', () => {
    expect(MONEY_SCALE).toBe(9);
    expect(parseMoney('0.0125')).toBe(12_500_000n);
    expect(parseMoney(0.0125)).toBe(12_500_000n);
    expect(parseMoney('3.83')).toBe(3_830_000_000n);
    expect(parseMoney(3.83)).toBe(3_830_000_000n);
    expect(parseMoney('0.000000001')).toBe(1n);
    expect(parseMoney('42')).toBe(42_000_000_000n);
    expect(parseMoney(0)).toBe(0n);
    expect(parseMoney('-1.5')).toBe(-1_500_000_000n);
    expect(parseMoney(' 2.5 ')).toBe(2_500_000_000n);
    expect(parseMoney('12345678901234567890.123456789')).toBe(12_345_678_901_234_567_890_123_456_789n);
  });

  it('expands numbers JavaScript prints in scientific notation', () => {
    expect(String(1e-7)).toBe('1e-7'); // the case being guarded
    expect(parseMoney(1e-7)).toBe(100n);
    expect(parseMoney(1.5e-7)).toBe(150n);
    expect(parseMoney(1e-9)).toBe(1n);
    expect(parseMoney(-2.5e-8)).toBe(-25n);
    expect(parseMoney(1e21)).toBe(10n ** 30n);
    expect(parseMoney(1.25e21)).toBe(125n * 10n ** 28n);
  });

  it('rejects more than nine decimals instead of rounding', () => {
    for (const v of ['0.0000000001', '1.0000000000', 1e-10, 0.1 + 0.2]) {
      const err = moneyError(() => parseMoney(v));
      expect(err.code).toBe('TL_MONEY_INVALID');
      expect(err.message).toContain('more than 9 decimals');
    }
  });

  it('rejects text that is not a plain decimal', () => {
    for (const v of ['', 'abc', '1.2.3', '1,5', '+1', '.5', '1.', '0x10', 'NaN', 'Infinity', '1e-7', '1 000', '$3', NaN, Infinity, -Infinity]) {
      expect(moneyError(() => parseMoney(v)).code, `value ${String(v)}`).toBe('TL_MONEY_INVALID');
    }
  });

  it('round-trips every amount through formatMoney', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), (nanos) => {
        expect(parseMoney(formatMoney(nanos))).toBe(nanos);
      }),
    );
  });

  it('round-trips every amount of up to 15 significant digits through a JSON number', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n - 1n), max: 10n ** 15n - 1n }), (nanos) => {
        const asNumber = JSON.parse(formatMoney(nanos)) as number;
        expect(parseMoney(asNumber)).toBe(nanos);
      }),
    );
  });

  it('reads any decimal string with up to nine decimals to its canonical text', () => {
    const decimalArb = fc.record({
      negative: fc.boolean(),
      whole: fc.stringMatching(/^\d{1,25}$/),
      fraction: fc.stringMatching(/^\d{0,9}$/),
    });
    fc.assert(
      fc.property(decimalArb, ({ negative, whole, fraction }) => {
        const text = `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
        const nanos = parseMoney(text);
        expect(nanos).toBe((negative ? -1n : 1n) * (BigInt(whole) * 10n ** 9n + BigInt(fraction.padEnd(9, '0'))));
        // Canonical text: no leading zeros in the whole part, no trailing zeros in the fraction.
        const canonicalWhole = whole.replace(/^0+(?=\d)/, '');
        const canonicalFraction = fraction.replace(/0+$/, '');
        const canonical = nanos === 0n ? '0' : `${negative ? '-' : ''}${canonicalWhole}${canonicalFraction ? `.${canonicalFraction}` : ''}`;
        expect(formatMoney(nanos)).toBe(canonical);
      }),
    );
  });
});

describe('formatMoney', () => {
  it('writes the shortest exact decimal', () => {
    expect(formatMoney(3_830_000_000n)).toBe('3.83');
    expect(formatMoney(0n)).toBe('0');
    expect(formatMoney(-1n)).toBe('-0.000000001');
    expect(formatMoney(1_000_000_000n)).toBe('1');
    expect(formatMoney(MAX_EVENT_NANOS)).toBe('1000000');
    expect(formatMoney(10n ** 30n + 1n)).toBe('1000000000000000000000.000000001');
  });
});

describe('sumMoney', () => {
  it('sums exactly where floats drift', () => {
    const tenth = parseMoney('0.1');
    expect(sumMoney(Array.from({ length: 10 }, () => tenth))).toBe(parseMoney('1'));
    expect(formatMoney(sumMoney(Array.from({ length: 10 }, () => parseMoney(0.1))))).toBe('1');
    expect(formatMoney(sumMoney([parseMoney(0.1), parseMoney(0.2)]))).toBe('0.3');
    expect(formatMoney(sumMoney([parseMoney('1.83'), parseMoney('2')]))).toBe('3.83');
    expect(sumMoney([])).toBe(0n);
    // Any iterable, including a generator.
    expect(sumMoney((function* () { yield 1n; yield 2n; })())).toBe(3n);
  });

  it('equals the sum of the parts in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: MAX_EVENT_NANOS })), (amounts) => {
        const total = amounts.reduce((a, b) => a + b, 0n);
        expect(sumMoney(amounts)).toBe(total);
        expect(sumMoney([...amounts].reverse())).toBe(total);
      }),
    );
  });
});

describe('normaliseDecimalText', () => {
  it('shortens Postgres numeric text and reads null as zero', () => {
    expect(normaliseDecimalText('3.830000000')).toBe('3.83');
    expect(normaliseDecimalText('12.000000000')).toBe('12');
    expect(normaliseDecimalText('0.000000001')).toBe('0.000000001');
    expect(normaliseDecimalText('-0.000000000')).toBe('0');
    expect(normaliseDecimalText('123456789012345678901.123456789')).toBe('123456789012345678901.123456789');
    expect(normaliseDecimalText(null)).toBe('0');
  });

  it('refuses text it cannot represent exactly', () => {
    expect(moneyError(() => normaliseDecimalText('1.0000000001')).code).toBe('TL_MONEY_INVALID');
    expect(moneyError(() => normaliseDecimalText('NaN')).code).toBe('TL_MONEY_INVALID');
  });
});
