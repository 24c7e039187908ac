/**
 * The length in bytes of `value` written as compact UTF-8 JSON (what `JSON.stringify` would
 * give), for values that came out of `JSON.parse`. It walks the value with an explicit stack, so
 * nesting a million levels deep costs memory, not the call stack (JSON.stringify would throw a
 * RangeError there), and it stops counting once the total exceeds `stopAbove`: the answer is then
 * some number above `stopAbove`, not the exact length.
 */
export function jsonByteLength(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    if (total > stopAbove) return total;
    const v = stack.pop();
    if (v === null || v === undefined) {
      total += 4;
    } else if (typeof v === 'string') {
      total += stringBytes(v);
    } else if (typeof v === 'number') {
      total += Number.isFinite(v) ? String(v).length : 4;
    } else if (typeof v === 'boolean') {
      total += v ? 4 : 5;
    } else if (Array.isArray(v)) {
      total += v.length === 0 ? 2 : 1 + v.length; // brackets and the commas between items
      if (total > stopAbove) return total;
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      total += keys.length === 0 ? 2 : 1 + keys.length; // braces and the commas between members
      for (const k of keys) {
        total += stringBytes(k) + 1; // "key" and the colon
        if (total > stopAbove) return total;
        stack.push((v as Record<string, unknown>)[k]);
      }
    } else {
      total += 4; // not JSON (a function, a bigint): counted as the null JSON.stringify would not write
    }
  }
  return total;
}

/** Printable ASCII without `"` or `\\`: JSON writes it as it is, one byte per character. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Bytes of a string as a JSON string literal: quotes, escapes, UTF-8. */
function stringBytes(s: string): number {
  // Most strings (ids, names, timestamps) need no escape and no multi-byte character.
  if (PLAIN.test(s)) return s.length + 2;
  return Buffer.byteLength(JSON.stringify(s), 'utf8');
}
