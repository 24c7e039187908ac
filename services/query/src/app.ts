import { Readable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Authenticator } from '@traceledger/auth';
import {
  TraceLedgerError,
  calendarMonths,
  checkBucketRange,
  lastDays,
  normaliseDecimalText,
  parseBucket,
  resolveRange,
  type Period,
  type RangeQuery,
  type ResolvedRange,
} from '@traceledger/core';
import { withTenant, type Pool } from '@traceledger/db';
import {
  Decimal,
  createMetricsRegistry,
  errorHandler,
  exactJsonStringify,
  notFoundHandler,
  registerOperatorRoutes,
  requireScope,
  schemaErrorFormatter,
  tenantOf,
  type ReadinessCheck,
} from '@traceledger/http';
import type { Registry } from 'prom-client';
import { DASHBOARD_PATHS, dashboardRoutes } from './dashboard.js';
import { decodeCursor, encodeCursor, exportFormat, parseFilters, parseGroupBy } from './params.js';
import {
  activeAgents,
  durations,
  scopeExists,
  series,
  totals,
  type Dimension,
  type Scope,
  type SeriesQuery,
  type Db,
  type SeriesRow,
  type Totals,
} from './repository.js';
import * as S from './schemas.js';

/** What the query app needs from the outside world. */
export interface QueryDeps {
  pool: Pool;
  logger: Logger;
  /** Clock (tests pin it). */
  now?: () => Date;
  /** Who a request acts for: API keys with the query scope (the tenant comes from the key). */
  auth: Authenticator;
  /** Row-security role every read runs as (migration 0005); null keeps the connection's role. */
  dbRole?: string | null;
  /** Where `/metrics` reads from (default: a registry of this app's own). */
  registry?: Registry;
  /** What `/ready` checks (main.ts: Postgres); none: ready while the process answers. */
  readiness?: readonly ReadinessCheck[];
}

const MAX_TREND_DAYS = 366;
// Bounds for an unbounded breakdown: before the contract's earliest event, after any real one.
const EARLIEST = new Date('1970-01-01T00:00:00Z');
const LATEST = new Date('9999-01-01T00:00:00Z');
const EXPORT_PAGE_ROWS = 5000;

/** Exact money: numeric text to a JSON number with the same digits. */
const money = (text: string | null): Decimal => new Decimal(normaliseDecimalText(text));
/** Exact integer count (token sums can pass 2^53 in principle). */
const count = (text: string | null): Decimal => new Decimal(text ?? '0');
const ms = (text: string | null): Decimal | null => (text === null ? null : new Decimal(text));

type RangeQs = RangeQuery & { period?: string };

/**
 * The query HTTP app: billing and analytics for dashboards, all from trace_sessions, with money
 * written as exact decimal JSON numbers, request and response schemas declared (served as an
 * OpenAPI document at /docs/json, browsable at /docs), and CSV / NDJSON exports streamed.
 */
export async function buildQueryApp(deps: QueryDeps): Promise<FastifyInstance> {
  const now = deps.now ?? (() => new Date());
  const role = deps.dbRole === undefined ? 'traceledger_query' : deps.dbRole;
  /** Runs reads for the request's tenant, behind row-level security as well as the SQL filters. */
  const asTenant = <T>(request: FastifyRequest, fn: (db: Db, tenantId: string) => Promise<T>): Promise<T> => {
    const tenantId = tenantOf(request);
    return withTenant(deps.pool, tenantId, role, (db) => fn(db, tenantId));
  };
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, schemaErrorFormatter });
  app.setErrorHandler(errorHandler('TL_QUERY'));
  app.setNotFoundHandler(notFoundHandler('TL_QUERY'));
  // Response schemas document the answers; the exact serializer writes them (money digit for digit).
  app.setSerializerCompiler(() => exactJsonStringify);
  app.setReplySerializer(exactJsonStringify);
  requireScope(app, deps.auth, 'query', { publicExact: DASHBOARD_PATHS.exact, publicPrefixes: DASHBOARD_PATHS.prefixes });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'traceledger query API',
        version: '1',
        description:
          'Billing and analytics for AI-agent sessions, all computed from the trace_sessions table. Money is a JSON number with the exact stored decimal digits (at most 9 decimals).',
      },
      tags: [
        { name: 'billing', description: 'What a billing page needs' },
        { name: 'analytics', description: 'What an analytics page needs' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  registerOperatorRoutes(app, { registry: deps.registry ?? createMetricsRegistry('query'), readiness: deps.readiness ?? [] });
  await app.register(dashboardRoutes);

  const range = (q: RangeQs, fallback: Period): ResolvedRange => resolveRange(q, now(), fallback);
  const rangeOut = (r: ResolvedRange) => ({ period: r.period, from: r.from?.toISOString() ?? null, to: r.to?.toISOString() ?? null, tz: r.tz });

  app.get<{ Querystring: RangeQs }>('/api/billing/summary', { schema: S.billingSummary }, async (request) => {
    const r = range(request.query, 'all');
    const months = calendarMonths(now(), r.tz);
    const custom = r.period !== 'all';
    const [all, thisMonth, lastMonth, agents] = await asTenant(request, async (db, tenantId) => [
      await totals(db, tenantId, { kind: 'tenant' }, r),
      await totals(db, tenantId, { kind: 'tenant' }, months.thisMonth),
      await totals(db, tenantId, { kind: 'tenant' }, months.lastMonth),
      await activeAgents(db, tenantId, custom ? r : months.thisMonth),
    ] as const);
    return {
      totalCost: money(all.cost),
      totalTokens: count(String(BigInt(all.inputTokens) + BigInt(all.outputTokens))),
      activeAgents: count(agents),
      costThisMonth: money(thisMonth.cost),
      costLastMonth: money(lastMonth.cost),
      range: rangeOut(r),
    };
  });

  const platform = async (request: FastifyRequest<{ Querystring: RangeQs }>) => {
    const r = range(request.query, '7d');
    const t = await asTenant(request, (db, tenantId) => totals(db, tenantId, { kind: 'tenant' }, r));
    return {
      data: {
        ...rangeOut(r),
        totalSessions: count(t.sessions),
        successCount: count(t.success),
        errorCount: count(t.error),
        totalInputTokens: count(t.inputTokens),
        totalOutputTokens: count(t.outputTokens),
        totalCost: money(t.cost),
        statusCounts: statusCounts(t),
        unpricedSessions: count(t.unpricedSessions),
        unpricedTokens: count(t.unpricedTokens),
      },
    };
  };
  app.get('/api/analytics/platform', { schema: S.platform }, platform);
  // The old platform's path, kept so existing dashboards keep working.
  app.get('/api/agent-portal/analytics/platform', { schema: { ...S.platform, hide: true } }, platform);

  const scoped =
    (kind: 'agent' | 'team') =>
    async (request: FastifyRequest<{ Params: { id: string }; Querystring: RangeQs }>) => {
      const r = range(request.query, '30d');
      const s: Scope = kind === 'agent' ? { kind, agentId: request.params.id } : { kind, teamId: request.params.id };
      if (!(await asTenant(request, (db, tenantId) => scopeExists(db, tenantId, s)))) throw notFound(kind, request.params.id);
      // Two short transactions on two connections: the percentile scan and the totals overlap.
      const [t, d] = await Promise.all([
        asTenant(request, (db, tenantId) => totals(db, tenantId, s, r)),
        asTenant(request, (db, tenantId) => durations(db, tenantId, s, r)),
      ]);
      return {
        data: {
          [`${kind}Id`]: request.params.id,
          ...rangeOut(r),
          totalSessions: count(t.sessions),
          statusCounts: statusCounts(t),
          totalInputTokens: count(t.inputTokens),
          totalOutputTokens: count(t.outputTokens),
          totalCost: money(t.cost),
          unpricedSessions: count(t.unpricedSessions),
          unpricedTokens: count(t.unpricedTokens),
          duration: { avgMs: ms(d.avgMs), p50Ms: ms(d.p50Ms), p95Ms: ms(d.p95Ms), p99Ms: ms(d.p99Ms) },
        },
      };
    };
  app.get('/api/analytics/agents/:id', { schema: S.scoped('agent') }, scoped('agent'));
  app.get('/api/analytics/teams/:id', { schema: S.scoped('team') }, scoped('team'));

  app.get<{ Params: { id: string }; Querystring: { days?: string; tz?: string } }>(
    '/api/analytics/agents/:id/token-trends',
    { schema: S.tokenTrends },
    async (request) => {
      const days = parseDays(request.query.days);
      const tz = resolveRange({ tz: request.query.tz }, now(), 'all').tz;
      const agentId = request.params.id;
      const labels = lastDays(days, now(), tz);
      const first = labels[0];
      const last = labels[labels.length - 1];
      if (first === undefined || last === undefined) throw new Error('no days');
      const { rows } = await asTenant(request, async (db, tenantId) => {
        if (!(await scopeExists(db, tenantId, { kind: 'agent', agentId }))) throw notFound('agent', agentId);
        return series(db, tenantId, {
        range: { from: first.start, to: last.end },
        bucket: 'day',
        tz,
        groupBy: [],
        filters: { agent: [agentId] },
        top: null,
        after: null,
        limit: days + 2,
        byCost: false,
        });
      });
      const byStart = new Map(rows.map((r) => [r.bucket, r]));
      return {
        data: {
          agentId,
          days,
          tz,
          trends: labels.map((day) => {
            const r = byStart.get(day.start.toISOString());
            return {
              date: day.date,
              sessions: count(r?.sessions ?? '0'),
              inputTokens: count(r?.inputTokens ?? '0'),
              outputTokens: count(r?.outputTokens ?? '0'),
              totalTokens: count(String(BigInt(r?.inputTokens ?? '0') + BigInt(r?.outputTokens ?? '0'))),
              cost: money(r?.cost ?? '0'),
            };
          }),
        },
      };
    },
  );

  type UsageQs = RangeQs & Partial<Record<Dimension, string>> & {
    bucket?: string;
    groupBy?: string;
    top?: string;
    limit?: string;
    cursor?: string;
    format?: string;
  };

  app.get<{ Querystring: UsageQs }>('/api/analytics/usage', { schema: S.usage }, async (request, reply) => {
    const q = request.query;
    const r = range(q, '30d');
    const bucket = parseBucket(q.bucket, 'day');
    const bounded = checkBucketRange(r, bucket, now());
    const groupBy = parseGroupBy(q.groupBy);
    const base: Omit<SeriesQuery, 'after' | 'limit'> = {
      range: bounded,
      bucket,
      tz: r.tz,
      groupBy,
      filters: parseFilters(q),
      top: q.top === undefined ? null : intParam('top', q.top, 1, 1000),
      byCost: false,
    };
    const head = { bucket, groupBy, ...rangeOut(r), from: bounded.from.toISOString(), to: bounded.to.toISOString() };
    return answerSeries(request, reply, base, q, head, 1 + groupBy.length);
  });

  app.get<{ Querystring: RangeQs & { by?: string; limit?: string; cursor?: string; format?: string } }>(
    '/api/billing/breakdown',
    { schema: S.breakdown },
    async (request, reply) => {
      const q = request.query;
      const by = parseGroupBy(q.by ?? '');
      if (by.length !== 1 || by[0] === 'status') {
        throw new TraceLedgerError('TL_QUERY_BAD_BY', `by must be one of team, agent, model; got "${q.by ?? ''}"`, { statusCode: 400 });
      }
      const r = range(q, 'all');
      const base: Omit<SeriesQuery, 'after' | 'limit'> = {
        range: { from: r.from ?? EARLIEST, to: r.to ?? LATEST },
        bucket: null,
        tz: r.tz,
        groupBy: by,
        filters: {},
        top: null,
        byCost: true,
      };
      const head = { by: by[0], ...rangeOut(r) };
      return answerSeries(request, reply, base, q, head, 2);
    },
  );

  /**
   * One page as JSON (with `nextCursor`), or every page as a streamed CSV or NDJSON export of
   * the same rows.
   */
  async function answerSeries(
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
      const page = await asTenant(request, (db, tenantId) => series(db, tenantId, { ...base, after, limit }));
      const last = page.rows[page.rows.length - 1];
      return { data: { ...head, rows: page.rows.map((row) => jsonRow(row, base)), nextCursor: page.more && last ? encodeCursor(sortKey(last)) : null } };
    }
    const columns = [...(base.bucket ? ['bucket'] : []), ...base.groupBy, 'sessions', 'inputTokens', 'outputTokens', 'cost', 'unpricedTokens'];
    async function* lines(): AsyncGenerator<string> {
      if (format === 'csv') yield `${columns.join(',')}\n`;
      let cursor = after;
      for (;;) {
        // Each page in its own short transaction: a slow reader never holds a connection open.
        const page = await asTenant(request, (db, tenantId) => series(db, tenantId, { ...base, after: cursor, limit: EXPORT_PAGE_ROWS }));
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

  return app;
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

function statusCounts(t: Totals) {
  return { running: count(t.running), success: count(t.success), error: count(t.error), timeout: count(t.timeout), cancelled: count(t.cancelled) };
}

function intParam(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new TraceLedgerError(`TL_QUERY_BAD_${name.toUpperCase()}`, `${name} must be a whole number from ${min} to ${max}, got "${value}"`, { statusCode: 400 });
  }
  return Number(value);
}

function parseDays(value: string | undefined): number {
  return value === undefined || value === '' ? 7 : intParam('days', value, 1, MAX_TREND_DAYS);
}

function notFound(kind: 'agent' | 'team', id: string): TraceLedgerError {
  return new TraceLedgerError(`TL_QUERY_${kind.toUpperCase()}_NOT_FOUND`, `no ${kind} "${id}" has any session`, { statusCode: 404 });
}

