import type { FastifyInstance } from 'fastify';
import { TraceLedgerError, calendarMonths } from '@traceledger/core';
import { count, money } from '../answers.js';
import type { RangeQs } from '../reads.js';
import { activeAgents, totals, type SeriesQuery } from '../repository.js';
import * as S from '../schemas.js';
import { parseGroupBy } from '../params.js';
import { answerSeries } from '../series-answer.js';

// Bounds for an unbounded breakdown: before the contract's earliest event, after any real one.
const EARLIEST = new Date('1970-01-01T00:00:00Z');
const LATEST = new Date('9999-01-01T00:00:00Z');

/** What a billing page needs: the summary and the breakdown by team, agent or model. */
export async function billingRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: RangeQs }>('/api/billing/summary', { schema: S.billingSummary }, async (request) => {
    const r = app.reads.range(request.query, 'all');
    const months = calendarMonths(app.reads.now(), r.tz);
    const custom = r.period !== 'all';
    const [all, thisMonth, lastMonth, agents] = await app.reads.asTenant(request, async (db, tenantId) => [
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
      range: app.reads.rangeOut(r),
    };
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
      const r = app.reads.range(q, 'all');
      const base: Omit<SeriesQuery, 'after' | 'limit'> = {
        range: { from: r.from ?? EARLIEST, to: r.to ?? LATEST },
        bucket: null,
        tz: r.tz,
        groupBy: by,
        filters: {},
        top: null,
        byCost: true,
      };
      const head = { by: by[0], ...app.reads.rangeOut(r) };
      return answerSeries(app.reads, request, reply, base, q, head, 2);
    },
  );

}
