import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { registerCleanup } from '../cleanup.js';
import { RUN_ENV, privatePostgresDirPrefix, readProcess, waitGone } from '../run-processes.js';
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
 * owns. Stopped and deleted after the test (or the file, when started outside a test; see
 * ../cleanup.ts). The dir is /tmp/tl-fault-pg-<run id>-XXXXXX, named on the postmaster's command
 * line, which is how the run's teardown finds a server that outlived its test.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const server = await privateServer(async (pg, data) => {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  });
  await server.start();
  return server;
}

/**
 * A hot standby of `primary` on a port of its own: `pg_basebackup -R` (streaming the WAL it needs,
 * then writing standby.signal and primary_conninfo), started read-only and replaying the primary's
 * WAL as it comes. Stopped and deleted like a private server.
 */
export async function startPrivateStandby(primary: PrivatePostgres): Promise<PrivatePostgres> {
  const server = await privateServer(async (pg, data) => {
    await pg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
  });
  await server.start();
  return server;
}

/** The folder, port, clean-up and pg_ctl of a private server whose data folder `make` creates. */
async function privateServer(make: (pg: (tool: string, args: string[], timeout?: number) => Promise<void>, data: string) => Promise<void>): Promise<PrivatePostgres> {
  const bin = await binDir();
  const port = await freePort();
  const runId = inject('runId');
  const dir = await mkdtemp(join(tmpdir(), privatePostgresDirPrefix(runId)));
  const data = join(dir, 'data');
  const env = { ...process.env, [RUN_ENV]: runId };
  const asRoot = userInfo().uid === 0;
  const pg = async (tool: string, args: string[], timeout = 60_000): Promise<void> => {
    const cmd = join(bin, tool);
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { timeout, env });
    else await run(cmd, args, { timeout, env });
  };
  // Registered before anything can fail, so a half-made server is removed too.
  registerCleanup(async () => {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    // pg_ctl could not stop it (or timed out): the postmaster goes the hard way, its backends follow it.
    const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    const proc = pid > 0 ? await readProcess(pid) : null;
    if (proc !== null && proc.argv.some((a) => a.includes(dir))) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitGone([proc.pid], 10_000);
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  await make(pg, data);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=50 -c shared_buffers=32MB`;
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => pg('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']),
    stopImmediate: () => pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
  };
}
