/**
 * A decimal that must reach the client digit for digit. JSON.stringify would have to go through
 * a float; `exactJsonStringify` writes the decimal text itself as a JSON number instead.
 */
export class Decimal {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new TypeError(`not a decimal: ${text}`);
  }
  toJSON(): string {
    return this.text;
  }
}

/**
 * JSON.stringify, except that Decimal values are written as bare JSON numbers with exactly
 * their decimal text ("3.83", never 3.8299999999999996), so billing and analytics answers
 * carry exact money. Used as the reply serializer of the HTTP services.
 */
export function exactJsonStringify(value: unknown): string {
  if (value instanceof Decimal) return value.text;
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : exactJsonStringify(v))).join(',')}]`;
  }
  if (value instanceof Date) return JSON.stringify(value);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(k)}:${exactJsonStringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}
