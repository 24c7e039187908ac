import pg from 'pg';

/**
 * A pg pool; the only place traceledger constructs one. An idle connection that the server
 * closes (restart, admin shutdown) is reported to `onIdleError` and replaced on next use, instead
 * of crashing the process with an unhandled 'error' event.
 */
export function createPool(
  connectionString: string,
  options: { max?: number; applicationName?: string; onIdleError?: (err: Error) => void; serverOptions?: string } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'traceledger',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    ...(options.serverOptions ? { options: options.serverOptions } : {}),
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  // A connection that dies while lent out (server restart mid-transaction) emits 'error' on its
  // client; the failing query already rejects with it, so this only keeps the process alive.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

export type { Pool, PoolClient } from 'pg';
