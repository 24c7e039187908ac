import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { Authenticator } from '@traceledger/auth';
import type { Pool } from '@traceledger/db';
import {
  createMetricsRegistry,
  errorHandler,
  exactJsonStringify,
  notFoundHandler,
  registerOperatorRoutes,
  requireScope,
  schemaErrorFormatter,
  type ReadinessCheck,
} from '@traceledger/http';
import type { Registry } from 'prom-client';
import { DASHBOARD_PATHS, dashboardRoutes } from './dashboard.js';
import { decorateReads } from './reads.js';
import { analyticsRoutes } from './routes/analytics.js';
import { billingRoutes } from './routes/billing.js';
import { usageRoutes } from './routes/usage.js';

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

/**
 * The query HTTP app: billing and analytics for dashboards, all from trace_sessions, with money
 * written as exact decimal JSON numbers, request and response schemas declared (served as an
 * OpenAPI document at /docs/json, browsable at /docs), and CSV / NDJSON exports streamed. The
 * routes live in plugins by concern (routes/), over the reads this factory decorates the app with.
 */
export async function buildQueryApp(deps: QueryDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, schemaErrorFormatter });
  app.setErrorHandler(errorHandler('TL_QUERY'));
  app.setNotFoundHandler(notFoundHandler('TL_QUERY'));
  // Response schemas document the answers; the exact serializer writes them (money digit for digit).
  app.setSerializerCompiler(() => exactJsonStringify);
  app.setReplySerializer(exactJsonStringify);
  requireScope(app, deps.auth, 'query', { publicExact: DASHBOARD_PATHS.exact, publicPrefixes: DASHBOARD_PATHS.prefixes });
  decorateReads(app, { pool: deps.pool, role: deps.dbRole === undefined ? 'traceledger_query' : deps.dbRole, now: deps.now ?? (() => new Date()) });

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
  await app.register(billingRoutes);
  await app.register(analyticsRoutes);
  await app.register(usageRoutes);
  return app;
}
