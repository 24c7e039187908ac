import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** A PostgreSQL server of one test's own, which the test may stop in immediate mode and start again. */
export interface PrivatePostgres {
  readonly port: number;
  /** A connection string for `database` on this server (user postgres, trust auth). */
  url(database: string): string;
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: every backend is killed, no checkpoint; recovery replays WAL on start. */
  stopImmediate(): Promise<void>;
}

async function binDir(): Promise<string> {
  if (process.env['PG_BINDIR']) return process.env['PG_BINDIR'];
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = (await readdir(base)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  }
  const { stdout } = await run('pg_config', ['--bindir']);
  return stdout.trim();
}

/**
 * A private PostgreSQL (initdb + pg_ctl on a temp dir and a free loopback port, trust auth,
 * superuser `postgres`), never the shared server: tests that stop Postgres use this. initdb
 * refuses to run as root, so as root the server runs as the `postgres` OS user in a directory it
 * owns. Stopped and deleted after the test file.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = await binDir();
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'tl-fault-pg-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const pg = async (tool: string, args: string[], timeout = 60_000): Promise<void> => {
    const cmd = join(bin, tool);
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { timeout });
    else await run(cmd, args, { timeout });
  };
  await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=50 -c shared_buffers=32MB`;
  const server: PrivatePostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => pg('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']),
    stopImmediate: () => pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
  };
  afterAll(async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}
