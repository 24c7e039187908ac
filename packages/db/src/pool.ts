import pg from 'pg';

/** A pg pool; the only place traceledger constructs one. */
export function createPool(connectionString: string, options: { max?: number; applicationName?: string } = {}): pg.Pool {
  return new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'traceledger',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
}

export type { Pool, PoolClient } from 'pg';
