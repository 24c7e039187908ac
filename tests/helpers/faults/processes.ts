import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { registerCleanup } from '../cleanup.js';
import { RUN_ENV } from '../run-processes.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** One pino line of a service's stdout, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string; time?: string };

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every JSON log line so far, in order. */
  readonly logs: LogLine[];
  /** How the process ended (resolves once it has). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  running(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** The first log line matching `pred` (already seen or still to come), within `timeoutMs`. */
  waitForLog(pred: (line: LogLine) => boolean, options?: { timeoutMs?: number; what?: string }): Promise<LogLine>;
  /** The last lines of stdout and stderr, for a failure message. */
  tail(n?: number): string;
}

const all: ServiceProcess[] = [];

/** Every service process this test file started (for dumping logs when a test fails). */
export function spawnedProcesses(): readonly ServiceProcess[] {
  return all;
}

/**
 * Starts a traceledger service as its own Node process (`node --import tsx services/<name>/src/main.ts`,
 * or with `compiled` the built `node --conditions=compiled services/<name>/dist/main.js`), with `env` on top of a minimal environment: the test names every
 * setting that matters and nothing leaks in from the shell. The process is SIGKILLed after the
 * test (or the file, when started outside a test; see ../cleanup.ts) if it is still running. Its
 * environment carries TL_TEST_RUN=<run id>, so the run's teardown can tell if one outlived that.
 */
export function spawnService(service: 'ingest' | 'consumer' | 'query', env: Record<string, string>, label: string = service, options: { compiled?: boolean } = {}): ServiceProcess {
  // Compiled: the JavaScript `npm run build` wrote, as production runs it (no tsx anywhere).
  const args = options.compiled ? ['--conditions=compiled', `services/${service}/dist/main.js`] : ['--import', 'tsx', `services/${service}/src/main.ts`];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOG_LEVEL: 'info', MIGRATE_ON_START: 'false', CONSUMER_PORT: '0', ...env, [RUN_ENV]: inject('runId') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${service}`);
  const logs: LogLine[] = [];
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null; atMs: number } | null = null;
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      raw.push(line);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a pino line (a stack trace printed by Node itself): kept in raw only
      }
    }
    for (const w of waiters) w();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    raw.push(...chunk.split('\n').filter((l) => l.trim() !== '').map((l) => `[stderr] ${l}`));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolveExit) => {
    // 'close' (not 'exit'): stdout is fully read by then, so the last log lines are in `logs`.
    child.once('close', (code, signal) => {
      exitInfo = { code, signal, atMs: Date.now() };
      resolveExit(exitInfo);
      for (const w of waiters) w();
    });
  });
  const proc: ServiceProcess = {
    name: label,
    pid: child.pid,
    child,
    logs,
    exited,
    running: () => exitInfo === null,
    signal: (sig) => {
      if (exitInfo === null) child.kill(sig);
    },
    waitForLog(pred, { timeoutMs = 30_000, what = 'a log line' } = {}) {
      return new Promise<LogLine>((resolveLine, reject) => {
        const check = (): boolean => {
          const hit = logs.find(pred);
          if (hit) {
            done();
            resolveLine(hit);
            return true;
          }
          if (exitInfo !== null) {
            done();
            reject(new Error(`${label} exited (${exitInfo.code ?? exitInfo.signal}) before ${what}\n--- ${label} log tail ---\n${proc.tail(30)}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}: ${what}\n--- ${label} log tail ---\n${proc.tail(30)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        const waiter = (): void => void check();
        if (!check()) waiters.add(waiter);
      });
    },
    tail(n = 40) {
      return raw.slice(-n).join('\n');
    },
  };
  all.push(proc);
  registerCleanup(async () => {
    if (proc.running()) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return proc;
}

/** A log line's message is `msg`. */
export function msg(text: string): (line: LogLine) => boolean {
  return (line) => line.msg === text;
}
