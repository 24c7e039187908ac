import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorHandler, notFoundHandler, registerOperatorRoutes, type ReadinessCheck } from '@traceledger/http';

/**
 * The consumer's small HTTP server (CONSUMER_PORT): `/health`, `/healthz`, `/ready` and `/metrics`
 * only, no API key, nothing that reads or changes billing data.
 */
export function buildConsumerHttp(deps: { logger: Logger; registry: Registry; readiness: readonly ReadinessCheck[] }): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, disableRequestLogging: true });
  app.setErrorHandler(errorHandler('TL_CONSUMER'));
  app.setNotFoundHandler(notFoundHandler('TL_CONSUMER'));
  registerOperatorRoutes(app, { registry: deps.registry, readiness: deps.readiness });
  return app;
}
