import { TraceLedgerError } from './errors.js';

/**
 * Money is held as integer nano-units (1e-9 of a currency unit) in a bigint while it is summed,
 * and as `numeric(30,9)` in Postgres. Nine decimals represent any per-token price down to
 * $0.001 per million tokens without rounding. Floats never carry money.
 */
export const MONEY_SCALE = 9;
const SCALE_FACTOR = 10n ** BigInt(MONEY_SCALE);
const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?$/;

/** Largest cost accepted on one event: one million currency units (and within the 2^53 an Avro long carries exactly). */
export const MAX_EVENT_NANOS = 1_000_000n * SCALE_FACTOR;

/**
 * Parses a decimal given as a string (exact) or a JSON number (its shortest round-trip text,
 * exact for up to 15 significant digits) into nano-units. Throws TL_MONEY_INVALID when the
 * text is not a plain decimal or has more than nine decimals.
 */
export function parseMoney(value: string | number): bigint {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(String(value), 'is not a finite number');
    text = numberToPlainString(value);
  } else {
    text = value.trim();
  }
  const m = DECIMAL_RE.exec(text);
  if (!m) throw invalid(text, 'is not a decimal number like "0.0125"');
  const [, sign, whole = '0', fraction = ''] = m;
  if (fraction.length > MONEY_SCALE) {
    throw invalid(text, `has more than ${MONEY_SCALE} decimals`);
  }
  const nanos = BigInt(whole) * SCALE_FACTOR + BigInt(fraction.padEnd(MONEY_SCALE, '0') || '0');
  return sign ? -nanos : nanos;
}

/** Formats nano-units as the shortest exact decimal text ("3.83", "0", "-0.000000001"). */
export function formatMoney(nanos: bigint): string {
  const negative = nanos < 0n;
  const abs = negative ? -nanos : nanos;
  const whole = abs / SCALE_FACTOR;
  const fraction = (abs % SCALE_FACTOR).toString().padStart(MONEY_SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Sums nano-unit amounts exactly. */
export function sumMoney(amounts: Iterable<bigint>): bigint {
  let total = 0n;
  for (const a of amounts) total += a;
  return total;
}

/**
 * Normalises a Postgres `numeric` text ("3.830000000") to the shortest exact decimal ("3.83").
 * A null (sum over no rows) is zero.
 */
export function normaliseDecimalText(text: string | null): string {
  return formatMoney(text === null ? 0n : parseMoney(text));
}

function numberToPlainString(n: number): string {
  const s = String(n);
  if (!/e/i.test(s)) return s;
  // 1e-7 and similar: expand the exponent without going through float arithmetic.
  const [mantissa = '0', expText = '0'] = s.toLowerCase().split('e');
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '');
  const [intPart = '0', fracPart = ''] = digits.split('.');
  const all = intPart + fracPart;
  const point = intPart.length + exp;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${all}`;
  else if (point >= all.length) out = all + '0'.repeat(point - all.length);
  else out = `${all.slice(0, point)}.${all.slice(point)}`;
  return (negative ? '-' : '') + out;
}

function invalid(text: string, why: string): TraceLedgerError {
  return new TraceLedgerError('TL_MONEY_INVALID', `amount ${JSON.stringify(text)} ${why}`);
}
