import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyMigrations, connect } from '@databases/pg-migrations';
import { TraceLedgerError } from '@traceledger/core';

/** The repository's migrations folder (`migrations/0001-name.sql`, ...). */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/**
 * Applies every pending migration with @databases/pg-migrations. Creates the database first
 * when it does not exist (the server must be reachable with the same credentials).
 */
export async function migrate(databaseUrl: string, options: { createDatabase?: boolean; /** Tests of a migration apply the ones before it from a copy. */ directory?: string } = {}): Promise<void> {
  const directory = options.directory ?? MIGRATIONS_DIR;
  if (options.createDatabase ?? true) await ensureDatabase(databaseUrl);
  // Services started together would race to apply the same migration (two CREATE TABLEs, one
  // fails); an advisory lock held on its own connection serialises them.
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  const connection = connect({ connectionString: databaseUrl, bigIntMode: 'bigint' });
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await applyMigrations({ connection, migrationsDirectory: directory });
  } catch (cause) {
    throw new TraceLedgerError('TL_DB_MIGRATION_FAILED', `migrations in ${directory} failed: ${String(cause)}`, { cause });
  } finally {
    await connection.dispose();
    await lock.end();
  }
}

/** Advisory lock key of the migration step ("tl-migr" in ASCII). */
const MIGRATION_LOCK_KEY = 32_765_348_251_004_274n.toString();

/** Creates the database named in `databaseUrl` if it is missing. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (name === '' || name === 'postgres') return;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      } catch (err) {
        // Another process created it between our check and our CREATE.
        const code = (err as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/** Drops a database (tests use one per file). */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
