import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import {
  DEFAULT_TENANT,
  TraceLedgerError,
  lastUtcDays,
  normaliseDecimalText,
  parsePeriod,
  resolvePeriod,
  utcMonths,
} from '@traceledger/core';
import type { Pool } from '@traceledger/db';
import { Decimal, errorHandler, exactJsonStringify, notFoundHandler } from '@traceledger/http';
import { agentDays, billingSummary, scopeExists, totals, type DurationStats, type Scope, type Totals } from './repository.js';

/** What the query app needs from the outside world. */
export interface QueryDeps {
  pool: Pool;
  logger: Logger;
  /** Clock (tests pin it). */
  now?: () => Date;
  /** The caller's tenant, from its credentials. Until API keys exist: the default tenant. */
  tenantOf?: (request: FastifyRequest) => string;
}

const DAY_MS = 86_400_000;
const MAX_TREND_DAYS = 366;

/** Exact money: numeric text to a JSON number with the same digits. */
const money = (text: string | null): Decimal => new Decimal(normaliseDecimalText(text));
/** Exact integer count (token sums can pass 2^53 in principle). */
const count = (text: string | null): Decimal => new Decimal(text ?? '0');
const ms = (text: string | null): Decimal | null => (text === null ? null : new Decimal(text));

const periodQuery = {
  querystring: {
    type: 'object',
    properties: { period: { type: 'string', maxLength: 16 } },
  },
} as const;

/**
 * The query HTTP app: billing and analytics for dashboards, all from trace_sessions, with money
 * written as exact decimal JSON numbers.
 */
export function buildQueryApp(deps: QueryDeps): FastifyInstance {
  const now = deps.now ?? (() => new Date());
  const tenantOf = deps.tenantOf ?? (() => DEFAULT_TENANT);
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger });
  app.setErrorHandler(errorHandler('TL_QUERY'));
  app.setNotFoundHandler(notFoundHandler('TL_QUERY'));
  app.setSerializerCompiler(() => exactJsonStringify);
  app.setReplySerializer(exactJsonStringify);

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/api/billing/summary', async (request) => {
    const row = await billingSummary(deps.pool, tenantOf(request), utcMonths(now()));
    return {
      totalCost: money(row.totalCost),
      totalTokens: count(row.totalTokens),
      activeAgents: count(row.activeAgents),
      costThisMonth: money(row.costThisMonth),
      costLastMonth: money(row.costLastMonth),
    };
  });

  const platform = async (request: FastifyRequest<{ Querystring: { period?: string } }>) => {
    const period = parsePeriod(request.query.period, '7d');
    const t = await totals(deps.pool, tenantOf(request), { kind: 'tenant' }, resolvePeriod(period, now()));
    return {
      data: {
        period,
        totalSessions: count(t.sessions),
        successCount: count(t.success),
        errorCount: count(t.error),
        totalInputTokens: count(t.inputTokens),
        totalOutputTokens: count(t.outputTokens),
        totalCost: money(t.cost),
        unpricedSessions: count(t.unpricedSessions),
        unpricedTokens: count(t.unpricedTokens),
      },
    };
  };
  app.get('/api/analytics/platform', { schema: periodQuery }, platform);
  // The old platform's path, kept so existing dashboards keep working.
  app.get('/api/agent-portal/analytics/platform', { schema: periodQuery }, platform);

  const scoped = (scope: (params: Record<string, string>) => Scope, label: 'agentId' | 'teamId') =>
    async (request: FastifyRequest<{ Params: Record<string, string>; Querystring: { period?: string } }>) => {
      const period = parsePeriod(request.query.period, '30d');
      const tenantId = tenantOf(request);
      const s = scope(request.params);
      if (!(await scopeExists(deps.pool, tenantId, s))) throw notFound(label, request.params);
      const t = await totals(deps.pool, tenantId, s, resolvePeriod(period, now()));
      return { data: { [label]: s.kind === 'agent' ? s.agentId : s.kind === 'team' ? s.teamId : null, period, ...scopedBody(t) } };
    };
  app.get('/api/analytics/agents/:agentId', { schema: periodQuery }, scoped((p) => ({ kind: 'agent', agentId: p['agentId'] ?? '' }), 'agentId'));
  app.get('/api/analytics/teams/:teamId', { schema: periodQuery }, scoped((p) => ({ kind: 'team', teamId: p['teamId'] ?? '' }), 'teamId'));

  app.get<{ Params: { agentId: string }; Querystring: { days?: string } }>(
    '/api/analytics/agents/:agentId/token-trends',
    { schema: { querystring: { type: 'object', properties: { days: { type: 'string', maxLength: 8 } } } } },
    async (request) => {
      const days = parseDays(request.query.days);
      const tenantId = tenantOf(request);
      const { agentId } = request.params;
      if (!(await scopeExists(deps.pool, tenantId, { kind: 'agent', agentId }))) throw notFound('agentId', request.params);
      const labels = lastUtcDays(days, now());
      const from = new Date(`${labels[0]}T00:00:00.000Z`);
      const to = new Date(new Date(`${labels[labels.length - 1]}T00:00:00.000Z`).getTime() + DAY_MS);
      const rows = new Map((await agentDays(deps.pool, tenantId, agentId, { from, to })).map((r) => [r.day, r]));
      return {
        data: {
          agentId,
          days,
          trends: labels.map((day) => {
            const r = rows.get(day);
            return {
              date: day,
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

  return app;
}

function scopedBody(t: Totals & DurationStats) {
  return {
    totalSessions: count(t.sessions),
    statusCounts: {
      running: count(t.running),
      success: count(t.success),
      error: count(t.error),
      timeout: count(t.timeout),
      cancelled: count(t.cancelled),
    },
    totalInputTokens: count(t.inputTokens),
    totalOutputTokens: count(t.outputTokens),
    totalCost: money(t.cost),
    unpricedSessions: count(t.unpricedSessions),
    unpricedTokens: count(t.unpricedTokens),
    duration: { avgMs: ms(t.avgMs), p50Ms: ms(t.p50Ms), p95Ms: ms(t.p95Ms) },
  };
}

function parseDays(value: string | undefined): number {
  if (value === undefined || value === '') return 7;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_TREND_DAYS) {
    throw new TraceLedgerError('TL_QUERY_BAD_DAYS', `days must be a whole number from 1 to ${MAX_TREND_DAYS}, got "${value}"`, { statusCode: 400 });
  }
  return Number(value);
}

function notFound(label: string, params: Record<string, string>): TraceLedgerError {
  const kind = label === 'agentId' ? 'agent' : 'team';
  return new TraceLedgerError(`TL_QUERY_${kind.toUpperCase()}_NOT_FOUND`, `no ${kind} "${params[label] ?? ''}" has any session`, { statusCode: 404 });
}

