import type { FastifyInstance } from 'fastify';
import type { Authenticator, Principal, Scope } from '@traceledger/auth';
import { OPERATOR_PATHS } from './operator.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts for; set by the auth hook before any body is read. */
    principal: Principal | null;
  }
}

/**
 * Requires every route but the public ones (probes, metrics, API docs, and whatever the service
 * adds) to carry credentials with `scope`, checked on request arrival, before the body is read or
 * parsed. A public prefix covers the path itself and everything under it; `publicExact` paths only
 * themselves (`/` for a page must not open `/api/...`).
 */
export function requireScope(
  app: FastifyInstance,
  auth: Authenticator,
  scope: Scope,
  options: { publicPrefixes?: readonly string[]; publicExact?: readonly string[] } = {},
): void {
  const prefixes = [...OPERATOR_PATHS, ...(options.publicPrefixes ?? [])];
  const exact = new Set(options.publicExact ?? []);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (exact.has(path) || prefixes.some((p) => path === p || path.startsWith(`${p}/`))) return;
    request.principal = await auth.authenticate(request.headers, scope);
  });
}

/** The tenant of an authenticated request. */
export function tenantOf(request: { principal: Principal | null }): string {
  if (request.principal === null) throw new Error('route is missing the auth hook');
  return request.principal.tenantId;
}
