import { readdir, readFile } from 'node:fs/promises';

/**
 * How the processes a test run starts carry the run's id (`inject('runId')`, made by
 * tests/setup/global-infra.ts), so that its teardown can find whatever is still alive at the end
 * and tell it apart from other runs and from the shared broker; and reading them from /proc.
 * Plain Node (no vitest): the global teardown imports this too.
 */

/** Set to the run id in the environment of every process a test helper starts. */
export const RUN_ENV = 'TL_TEST_RUN';

/** Temp dir prefix of a private broker (its data dir, named on the java command line). */
export function privateKafkaDirPrefix(runId: string): string {
  return `tl-fault-kafka-${runId}-`;
}

/** Temp dir prefix of a private Postgres (its data dir is `<dir>/data`, named on the postgres command line). */
export function privatePostgresDirPrefix(runId: string): string {
  return `tl-fault-pg-${runId}-`;
}

/** One live process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The arguments it was started with (empty for kernel threads). */
  argv: string[];
  /** Its environment at exec, or null when /proc does not let us read it (another user's process). */
  env: Map<string, string> | null;
}

/** Running and stopped processes; zombies (killed, not yet reaped by their parent) count as gone. */
async function stat(pid: number): Promise<{ state: string; ppid: number } | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const [state = '', ppid = '0'] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' || state === 'X' ? null : { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** True while `pid` is a process that has not exited (a zombie has). */
export async function isAlive(pid: number): Promise<boolean> {
  return (await stat(pid)) !== null;
}

/** The process `pid`, or null when it is gone. */
export async function readProcess(pid: number): Promise<ProcInfo | null> {
  const s = await stat(pid);
  if (s === null) return null;
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } catch {
    return null;
  }
  let env: Map<string, string> | null = null;
  try {
    const raw = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    env = new Map(raw.filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]));
  } catch {
    // EACCES: not ours to read
  }
  return { pid, ppid: s.ppid, argv, env };
}

/** Every live process but this one. */
export async function listProcesses(): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => p !== process.pid);
  const all = await Promise.all(pids.map(readProcess));
  return all.filter((p): p is ProcInfo => p !== null);
}

/** Waits until none of `pids` is alive, for at most `timeoutMs`; returns those still alive. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = (await Promise.all(pids.map(async (p) => ((await isAlive(p)) ? p : null)))).filter((p): p is number => p !== null);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await new Promise((r) => setTimeout(r, 100));
  }
}
