/**
 * Postgres array literals for columns sent as one parameter each (`unnest($1::text[], ...)`).
 * node-postgres builds the same text, but runs two regular-expression replacements on every
 * element; the fold sends a couple of dozen columns of thousands of rows per batch, so this
 * writes the literal in one pass and escapes only the strings that need it.
 */

const NEEDS_ESCAPE = /[\\"]/;

/**
 * `{...}` of the values: null and undefined as NULL, numbers and bigints as their digits, booleans
 * as t/f, anything else as its string, double-quoted (backslash and double quote escaped), so
 * braces, commas, spaces and the word NULL stay text.
 */
export function pgArray(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number' || typeof v === 'bigint') out += String(v);
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else {
      const s = String(v);
      out += NEEDS_ESCAPE.test(s) ? `"${s.replace(/[\\"]/g, '\\$&')}"` : `"${s}"`;
    }
  }
  return `${out}}`;
}
