import type { FastifyInstance } from 'fastify';
import { checkBucketRange, parseBucket } from '@traceledger/core';
import { intParam } from '../answers.js';
import { parseFilters, parseGroupBy } from '../params.js';
import type { RangeQs } from '../reads.js';
import type { Dimension, SeriesQuery } from '../repository.js';
import * as S from '../schemas.js';
import { answerSeries } from '../series-answer.js';

/** Usage per time bucket, grouped and filtered: the series a dashboard plots, also as CSV or NDJSON. */
export async function usageRoutes(app: FastifyInstance): Promise<void> {
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
    const r = app.reads.range(q, '30d');
    const bucket = parseBucket(q.bucket, 'day');
    const bounded = checkBucketRange(r, bucket, app.reads.now());
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
    const head = { bucket, groupBy, ...app.reads.rangeOut(r), from: bounded.from.toISOString(), to: bounded.to.toISOString() };
    return answerSeries(app.reads, request, reply, base, q, head, 1 + groupBy.length);
  });

}
