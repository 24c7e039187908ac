import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { normaliseDecimalText } from '@traceledger/core';
import { exactJsonStringify } from '@traceledger/http';
import { count, intParam, money } from './answers.js';
import { decodeCursor, encodeCursor, exportFormat } from './params.js';
import type { TenantReads } from './reads.js';
import { series, type SeriesQuery, type SeriesRow } from './repository.js';

const EXPORT_PAGE_ROWS = 5000;

/**
 * One page as JSON (with `nextCursor`), or every page as a streamed CSV or NDJSON export of
 * the same rows.
 */
export async function answerSeries(
  reads: TenantReads,
  request: FastifyRequest,
  reply: FastifyReply,
  base: Omit<SeriesQuery, 'after' | 'limit'>,
  q: { limit?: string; cursor?: string; format?: string },
  head: Record<string, unknown>,
  keyLength: number,
) {
  const format = exportFormat(q.format, request.headers.accept);
  const after = decodeCursor(q.cursor, keyLength, base.byCost ? 'decimal' : 'instant');
  const sortKey = (row: SeriesRow): (string | null)[] =>
    base.byCost ? [normaliseDecimalText(row.cost), ...base.groupBy.map((d) => row.keys[d] ?? null)] : [row.bucket, ...base.groupBy.map((d) => row.keys[d] ?? null)];
  if (format === 'json') {
    const limit = q.limit === undefined ? 1000 : intParam('limit', q.limit, 1, 10_000);
    const page = await reads.asTenant(request, (db, tenantId) => series(db, tenantId, { ...base, after, limit }));
    const last = page.rows[page.rows.length - 1];
    return { data: { ...head, rows: page.rows.map((row) => jsonRow(row, base)), nextCursor: page.more && last ? encodeCursor(sortKey(last)) : null } };
  }
  const columns = [...(base.bucket ? ['bucket'] : []), ...base.groupBy, 'sessions', 'inputTokens', 'outputTokens', 'cost', 'unpricedTokens'];
  async function* lines(): AsyncGenerator<string> {
    if (format === 'csv') yield `${columns.join(',')}\n`;
    let cursor = after;
    for (;;) {
      // Each page in its own short transaction: a slow reader never holds a connection open.
      const page = await reads.asTenant(request, (db, tenantId) => series(db, tenantId, { ...base, after: cursor, limit: EXPORT_PAGE_ROWS }));
      for (const row of page.rows) {
        const flat = flatRow(row, base);
        yield format === 'csv' ? `${columns.map((c) => csvCell(flat[c] ?? null)).join(',')}\n` : `${exactJsonStringify(jsonRow(row, base))}\n`;
      }
      const last = page.rows[page.rows.length - 1];
      if (!page.more || last === undefined) return;
      cursor = sortKey(last);
    }
  }
  void reply.header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
  return reply.send(Readable.from(lines()));
}


function jsonRow(row: SeriesRow, q: Pick<SeriesQuery, 'bucket' | 'groupBy'>) {
  return {
    ...(q.bucket ? { bucket: row.bucket } : {}),
    ...row.keys,
    sessions: count(row.sessions),
    inputTokens: count(row.inputTokens),
    outputTokens: count(row.outputTokens),
    cost: money(row.cost),
    unpricedTokens: count(row.unpricedTokens),
  };
}

function flatRow(row: SeriesRow, q: Pick<SeriesQuery, 'bucket' | 'groupBy'>): Record<string, string | null> {
  return {
    ...(q.bucket ? { bucket: row.bucket } : {}),
    ...row.keys,
    sessions: row.sessions,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    cost: normaliseDecimalText(row.cost),
    unpricedTokens: row.unpricedTokens,
  };
}

/** RFC 4180 quoting; a leading =, +, - or @ is prefixed with ' so spreadsheets do not run it. */
function csvCell(v: string | null): string {
  if (v === null) return '';
  const safe = /^[=+\-@]/.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

