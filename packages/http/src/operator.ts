import type { FastifyInstance } from 'fastify';
// The `hide` schema option below comes from @fastify/swagger's augmentation of FastifySchema.
import type {} from '@fastify/swagger';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The routes an operator's tools call without an API key: probes, metrics and the API docs. */
export const OPERATOR_PATHS = ['/health', '/healthz', '/ready', '/metrics', '/docs'] as const;

/** One dependency `/ready` checks: resolves when it works now, throws when it does not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/**
 * A service's metrics registry: prom-client's default process metrics (CPU, memory, event loop
 * lag, handles) under the `traceledger_` prefix, and a `service` label on every series. Labels
 * never carry a tenant id or an API key: cardinality stays bounded and scrapes stay safe to share.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'traceledger_' });
  return registry;
}

export interface OperatorRoutesOptions {
  registry: Registry;
  /** What `/metrics` answers (default: `registry`'s metrics; a cluster worker answers the cluster's sum). */
  metrics?: () => Promise<string>;
  /** What `/ready` checks, all at once; none: ready whenever the process answers. */
  readiness?: readonly ReadinessCheck[];
  /** How long one readiness check may take before it counts as failed, in ms (default 2000). */
  readinessTimeoutMs?: number;
}

/**
 * Registers `/health` (the process lives; `/healthz` is its alias), `/ready` (200 when every
 * readiness check passes now, else 503 naming the failed ones) and `/metrics` (Prometheus text
 * format), and times every request by route template into `traceledger_http_request_duration_seconds`
 * (the template, `/api/sessions/:id`, never the raw URL, so ids do not become labels). These routes
 * need no credentials: the auth hook lets OPERATOR_PATHS through.
 */
export function registerOperatorRoutes(app: FastifyInstance, options: OperatorRoutesOptions): void {
  const { registry } = options;
  const timeoutMs = options.readinessTimeoutMs ?? 2000;
  const requestDuration = new Histogram({
    name: 'traceledger_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs (404s) share one label: a scanner must not grow the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    requestDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const hide = { schema: { hide: true } };
  const alive = async () => ({ status: 'ok' });
  app.get('/health', hide, alive);
  app.get('/healthz', hide, alive);
  app.get('/ready', hide, async (_request, reply) => {
    const checks = options.readiness ?? [];
    const outcomes = await Promise.all(checks.map(async (c) => ({ name: c.name, error: await failureOf(c, timeoutMs) })));
    const body = Object.fromEntries(outcomes.map((o) => [o.name, o.error === null ? 'ok' : o.error]));
    const ready = outcomes.every((o) => o.error === null);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: body });
  });
  app.get('/metrics', hide, async (_request, reply) => {
    return reply.header('content-type', registry.contentType).send(await (options.metrics ?? (() => registry.metrics()))());
  });
}

/** Null when the check passes within `timeoutMs`, else what went wrong, in a few words. */
async function failureOf(c: ReadinessCheck, timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([c.check().then(() => null), timeout]);
  } catch (err) {
    return err instanceof Error && err.message !== '' ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

/** The readiness checks of a service's connections: Postgres answers `SELECT 1`, a Kafka broker answers metadata. */
export function connectionChecks(deps: { pool?: { query(sql: string): Promise<unknown> }; kafka?: { ping(): Promise<void> } }): ReadinessCheck[] {
  const checks: ReadinessCheck[] = [];
  const { pool, kafka } = deps;
  if (pool !== undefined) checks.push({ name: 'postgres', check: async () => void (await pool.query('SELECT 1')) });
  if (kafka !== undefined) checks.push({ name: 'kafka', check: () => kafka.ping() });
  return checks;
}
