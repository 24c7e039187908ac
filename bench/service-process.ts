/**
 * A traceledger service started by a benchmark as its own OS process, from its real main.ts (or the
 * compiled dist/main.js), on a free loopback port, and stopped again.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { TraceLedgerError } from '@traceledger/core';
import { ROOT } from './report.js';

export interface ServiceProcess {
  readonly pid: number;
  /** http://127.0.0.1:<port> */
  readonly url: URL;
  /** How it was started, for the report. */
  readonly command: string;
  /** The last lines it wrote on stdout and stderr. */
  tail(): string;
  /** CPU time it has used so far (user + system), in seconds; null where /proc cannot tell. */
  cpuSeconds(): number | null;
  /** SIGTERM (the service's graceful shutdown), SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** User + system CPU seconds of process `pid` from /proc (Linux; clock ticks of 1/100 s). */
function cpuSecondsOf(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces, so count fields after the last ')'; utime and stime are fields 14 and 15.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Starts `services/<service>` with `env` over a minimal environment (nothing leaks in from the
 * shell but PATH and HOME), listening on a free port of 127.0.0.1, and waits until its `/ready`
 * answers 200. If this process exits first, the service is killed with it.
 */
export async function startService(
  service: 'ingest' | 'query',
  env: Record<string, string>,
  options: { compiled?: boolean; readyTimeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const portVar = service === 'query' ? 'QUERY_PORT' : 'INGEST_PORT';
  const args = options.compiled ? ['--conditions=compiled', `services/${service}/dist/main.js`] : ['--import', 'tsx', `services/${service}/src/main.ts`];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', HOST: '127.0.0.1', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `could not start ${service}`);
  const pid = child.pid;
  const lines: string[] = [];
  const keep = (chunk: string) => {
    lines.push(...chunk.split('\n').filter((l) => l.trim() !== ''));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const url = new URL(`http://127.0.0.1:${port}`);
  const tail = () => lines.join('\n');
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
  };
  const handle: ServiceProcess = { pid, url, command: `node ${args.join(' ')}`, tail, cpuSeconds: () => cpuSecondsOf(pid), stop };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `${service} exited before it was ready:\n${tail()}`);
      if (Date.now() > deadline) throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `${service} was not ready at ${url.href}ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${tail()}`);
      try {
        const res = await fetch(new URL('/ready', url), { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return handle;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
