import type { FastifyInstance, FastifyRequest } from 'fastify';
import { lastDays, resolveRange } from '@traceledger/core';
import { count, intParam, money, ms, notFound, statusCounts } from '../answers.js';
import type { RangeQs } from '../reads.js';
import { durations, scopeExists, series, totals, type Scope } from '../repository.js';
import * as S from '../schemas.js';

const MAX_TREND_DAYS = 366;

function parseDays(value: string | undefined): number {
  return value === undefined || value === '' ? 7 : intParam('days', value, 1, MAX_TREND_DAYS);
}

/** What an analytics page needs: the platform's totals, one agent's or team's, and an agent's daily token trend. */
export async function analyticsRoutes(app: FastifyInstance): Promise<void> {
  const platform = async (request: FastifyRequest<{ Querystring: RangeQs }>) => {
    const r = app.reads.range(request.query, '7d');
    const t = await app.reads.asTenant(request, (db, tenantId) => totals(db, tenantId, { kind: 'tenant' }, r));
    return {
      data: {
        ...app.reads.rangeOut(r),
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
      const r = app.reads.range(request.query, '30d');
      const s: Scope = kind === 'agent' ? { kind, agentId: request.params.id } : { kind, teamId: request.params.id };
      if (!(await app.reads.asTenant(request, (db, tenantId) => scopeExists(db, tenantId, s)))) throw notFound(kind, request.params.id);
      // Two short transactions on two connections: the percentile scan and the totals overlap.
      const [t, d] = await Promise.all([
        app.reads.asTenant(request, (db, tenantId) => totals(db, tenantId, s, r)),
        app.reads.asTenant(request, (db, tenantId) => durations(db, tenantId, s, r)),
      ]);
      return {
        data: {
          [`${kind}Id`]: request.params.id,
          ...app.reads.rangeOut(r),
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
      const tz = resolveRange({ tz: request.query.tz }, app.reads.now(), 'all').tz;
      const agentId = request.params.id;
      const labels = lastDays(days, app.reads.now(), tz);
      const first = labels[0];
      const last = labels[labels.length - 1];
      if (first === undefined || last === undefined) throw new Error('no days');
      const { rows } = await app.reads.asTenant(request, async (db, tenantId) => {
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

}
