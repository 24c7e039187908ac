import type { FastifyInstance, FastifyRequest } from 'fastify';
import { resolveRange, type Period, type RangeQuery, type ResolvedRange } from '@traceledger/core';
import { withTenant, type Pool } from '@traceledger/db';
import { tenantOf } from '@traceledger/http';
import type { Db } from './repository.js';

/** A range as the query string gives it. */
export type RangeQs = RangeQuery & { period?: string };

/** What every route plugin of the query app reads through: the tenant's rows, the clock, ranges. */
export interface TenantReads {
  /** Runs reads for the request's tenant, behind row-level security as well as the SQL filters. */
  asTenant<T>(request: FastifyRequest, fn: (db: Db, tenantId: string) => Promise<T>): Promise<T>;
  now(): Date;
  /** Resolves `period` or `from`/`to` and `tz` of a query string (`fallback` when neither is given). */
  range(q: RangeQs, fallback: Period): ResolvedRange;
  /** A resolved range as answers show it. */
  rangeOut(r: ResolvedRange): { period: string; from: string | null; to: string | null; tz: string };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The query app's reads (decorated by buildQueryApp, used by the route plugins). */
    reads: TenantReads;
  }
}

/** Decorates `app` with its reads over `pool`, as `role` (null: the connection's own role). */
export function decorateReads(app: FastifyInstance, deps: { pool: Pool; role: string | null; now: () => Date }): void {
  const reads: TenantReads = {
    asTenant: (request, fn) => {
      const tenantId = tenantOf(request);
      return withTenant(deps.pool, tenantId, deps.role, (db) => fn(db, tenantId));
    },
    now: deps.now,
    range: (q, fallback) => resolveRange(q, deps.now(), fallback),
    rangeOut: (r) => ({ period: r.period, from: r.from?.toISOString() ?? null, to: r.to?.toISOString() ?? null, tz: r.tz }),
  };
  app.decorate('reads', reads);
}
