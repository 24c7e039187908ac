import { TraceLedgerError, parseInstant } from '@traceledger/core';
import { DIMENSIONS, type Dimension } from './repository.js';

/** Query-string parsing beyond what JSON schema can say, each error naming its parameter. */

function bad(code: string, message: string): TraceLedgerError {
  return new TraceLedgerError(code, message, { statusCode: 400 });
}

/** A comma-separated list of dimensions ("agent,model"); duplicates rejected. */
export function parseGroupBy(value: string | undefined): Dimension[] {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((s) => s.trim());
  for (const part of parts) {
    if (!(DIMENSIONS as readonly string[]).includes(part)) {
      throw bad('TL_QUERY_BAD_GROUP_BY', `groupBy "${part}" is not supported; use any of ${DIMENSIONS.join(', ')}, comma-separated`);
    }
  }
  if (new Set(parts).size !== parts.length) throw bad('TL_QUERY_BAD_GROUP_BY', `groupBy "${value}" names a dimension twice`);
  return parts as Dimension[];
}

/** Filters: `agent=a,b&team=x&model=gpt-4o&status=error`. */
export function parseFilters(query: Partial<Record<Dimension, string>>): Partial<Record<Dimension, string[]>> {
  const out: Partial<Record<Dimension, string[]>> = {};
  for (const d of DIMENSIONS) {
    const v = query[d];
    if (v === undefined || v === '') continue;
    const values = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (values.length > 100) throw bad('TL_QUERY_BAD_FILTER', `${d} filters on at most 100 values`);
    out[d] = values;
  }
  return out;
}

/** An opaque keyset cursor: base64url JSON of the last row's sort key. */
export function encodeCursor(key: readonly (string | null)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor of `length` keys whose first key is a bucket start (`instant`, as encoded:
 * ISO 8601 UTC) or a cost (`decimal`). The first key is checked here because Postgres would
 * otherwise cast it: "garbage" fails as a 500, and "yesterday" or null silently end the pages.
 */
export function decodeCursor(value: string | undefined, length: number, first: 'instant' | 'decimal'): (string | null)[] | null {
  if (value === undefined || value === '') return null;
  try {
    const key = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === length && key.every((k) => k === null || typeof k === 'string')) {
      const head = key[0] as string | null;
      const ok = typeof head === 'string' && (first === 'decimal' ? /^\d{1,21}(\.\d{1,9})?$/.test(head) : isIsoInstant(head));
      if (ok) return key as (string | null)[];
    }
  } catch {
    // fall through to the error below
  }
  throw bad('TL_QUERY_BAD_CURSOR', 'cursor is not one this endpoint returned for the same groupBy; start again without it');
}

// Exactly what toISOString wrote: a real instant, and in the one spelling the cursor encoder uses.
function isIsoInstant(text: string): boolean {
  try {
    return new Date(parseInstant(text)).toISOString() === text;
  } catch (err) {
    if (err instanceof TraceLedgerError) return false;
    throw err;
  }
}

export type ExportFormat = 'json' | 'csv' | 'ndjson';

/** `format=` wins over the Accept header; JSON by default. */
export function exportFormat(format: string | undefined, accept: string | undefined): ExportFormat {
  if (format !== undefined && format !== '') {
    if (format === 'json' || format === 'csv' || format === 'ndjson') return format;
    throw bad('TL_QUERY_BAD_FORMAT', `format "${format}" is not supported; use json, csv or ndjson`);
  }
  if (accept?.includes('text/csv')) return 'csv';
  if (accept?.includes('application/x-ndjson') || accept?.includes('application/ndjson')) return 'ndjson';
  return 'json';
}
