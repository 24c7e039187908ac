import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

// The page's files stay in src/dashboard/ (tsc copies no assets): found from src/ in development
// and from dist/ when compiled, both one level under the package.
const pageDir = join(dirname(fileURLToPath(import.meta.url)), '../src/dashboard');
const uplotDist = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** The page's files, served from this package (uPlot from its npm package), never from a CDN. */
const FILES: Record<string, { path: string; type: string }> = {
  'dashboard.js': { path: join(pageDir, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: join(pageDir, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { path: join(uplotDist, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: join(uplotDist, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Paths the page is served under; they hold no tenant data, so they need no key (the page asks for one). */
export const DASHBOARD_PATHS = { exact: ['/'], prefixes: ['/dashboard'] } as const;

/**
 * The dashboard at `/`: a static page (services/query/src/dashboard/) that reads the same query API
 * every dashboard reads, with the key the user enters, kept in the browser session.
 */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const index = readFileSync(join(pageDir, 'index.html'));
  const files = new Map(Object.entries(FILES).map(([name, f]) => [name, { body: readFileSync(f.path), type: f.type }]));
  // The page runs only its own scripts, and talks only to this origin.
  const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', csp).send(index));
  app.get<{ Params: { file: string } }>('/dashboard/:file', { schema: { hide: true } }, async (request, reply) => {
    const file = files.get(request.params.file);
    if (file === undefined) return reply.callNotFound();
    return reply.header('content-type', file.type).header('cache-control', 'no-cache').send(file.body);
  });
}
