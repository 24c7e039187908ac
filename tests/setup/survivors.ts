import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RUN_ENV, listProcesses, privateKafkaDirPrefix, privatePostgresDirPrefix, waitGone, type ProcInfo } from '../helpers/run-processes.js';

const run = promisify(execFile);

/** A process of this run still alive after every test file has finished. */
export interface Survivor {
  pid: number;
  /** What it was, for the message. */
  what: string;
  /** True for a private Postgres's postmaster, which is stopped with pg_ctl first. */
  postmaster: boolean;
  /** Its executable (argv[0]). */
  exe: string;
  /** The private broker's or Postgres's temp dir, when it has one. */
  dir: string | null;
  /** Its command line, shortened. */
  cmd: string;
  /** Processes that go with it (a postmaster's backends), killed with it. */
  children: number[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The processes this run started that are still alive: a java or any other process whose command
 * line names a /tmp/tl-fault-kafka-<runId>-* or /tmp/tl-fault-pg-<runId>-* dir (the private
 * brokers and the private Postgres; tests/helpers/faults/private-*.ts), and any process whose
 * environment has TL_TEST_RUN=<runId> (the service processes of spawnService, and everything
 * the private servers' scripts started). Only this run's id matches: the shared broker on 9092,
 * the shared Postgres and other runs' processes are never touched.
 */
export async function findSurvivors(runId: string): Promise<Survivor[]> {
  const all = await listProcesses();
  const kafkaDir = new RegExp(`[^\\s=:]*/${escape(privateKafkaDirPrefix(runId))}[A-Za-z0-9_]+`);
  const pgDir = new RegExp(`[^\\s=:]*/${escape(privatePostgresDirPrefix(runId))}[A-Za-z0-9_]+`);
  const found = (p: ProcInfo, re: RegExp): string | null => {
    for (const a of p.argv) {
      const m = re.exec(a);
      if (m) return m[0];
    }
    return null;
  };
  const survivors: Survivor[] = [];
  for (const p of all) {
    const base = { pid: p.pid, exe: p.argv[0] ?? '', cmd: shorten(p.argv.join(' ')), postmaster: false, children: [] as number[] };
    const kafka = found(p, kafkaDir);
    const pg = found(p, pgDir);
    if (kafka !== null) {
      survivors.push({ ...base, what: p.argv.includes('kafka.Kafka') ? 'private Kafka broker (java)' : `process of a private Kafka broker (${basename(base.exe)})`, dir: kafka });
    } else if (pg !== null) {
      const postmaster = basename(base.exe) === 'postgres';
      // A postmaster's backends rename themselves ("postgres: checkpointer"): they are its children.
      const children = postmaster ? all.filter((c) => c.ppid === p.pid).map((c) => c.pid) : [];
      survivors.push({ ...base, what: postmaster ? 'private Postgres (postmaster)' : `process of a private Postgres (${basename(base.exe)})`, dir: pg, postmaster, children });
    } else if (p.env?.get(RUN_ENV) === runId) {
      const service = p.argv.map((a) => /^services\/([^/]+)\/src\/main\.ts$/.exec(a)?.[1]).find((x) => x !== undefined);
      survivors.push({ ...base, what: service !== undefined ? `traceledger ${service} service (spawnService)` : `process started by a test (${basename(base.exe)}, ${RUN_ENV}=${runId})`, dir: null });
    }
  }
  // A postmaster's child that carries the marker too is listed once, with its postmaster.
  const owned = new Set(survivors.flatMap((s) => s.children));
  return survivors.filter((s) => !owned.has(s.pid));
}

/**
 * Stops the survivors: a private Postgres first with `pg_ctl -m immediate stop` (every backend
 * goes with the postmaster), then SIGKILL for whatever is left, then their temp dirs are deleted.
 * Returns the pids still alive 10 s later (none, unless the kernel is stuck).
 */
export async function stopSurvivors(survivors: readonly Survivor[]): Promise<number[]> {
  for (const s of survivors) {
    if (!s.postmaster || s.dir === null) continue;
    const pgCtl = join(dirname(s.exe), 'pg_ctl');
    const args = ['-D', join(s.dir, 'data'), '-m', 'immediate', '-w', '-t', '10', 'stop'];
    await (userInfo().uid === 0 ? run('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { timeout: 15_000 }) : run(pgCtl, args, { timeout: 15_000 })).catch(() => undefined);
  }
  const pids = survivors.flatMap((s) => [s.pid, ...s.children]);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already (pg_ctl stopped it)
    }
  }
  const left = await waitGone(pids, 10_000);
  for (const dir of new Set(survivors.map((s) => s.dir))) {
    if (dir !== null) await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }
  return left;
}

/** The message that fails the run. */
export function describeSurvivors(runId: string, survivors: readonly Survivor[], stillAlive: readonly number[]): string {
  const lines = survivors.map((s) => {
    const extra = s.children.length > 0 ? ` (and ${s.children.length} backend process(es))` : '';
    return `  pid ${s.pid}  ${s.what}${extra}${s.dir === null ? '' : `  dir ${s.dir}`}\n      ${s.cmd}`;
  });
  return [
    `traceledger tests: ${survivors.length} process(es) started by test run ${runId} were still running after all its tests had finished.`,
    'A test helper did not stop what it started (see tests/helpers/cleanup.ts). The teardown killed them and deleted their dirs:',
    ...lines,
    ...(stillAlive.length > 0 ? [`  STILL ALIVE after SIGKILL: ${stillAlive.join(', ')}`] : []),
  ].join('\n');
}

function shorten(cmd: string): string {
  // A java command line is mostly its class path.
  const short = cmd.replace(/-cp \S+/, '-cp …');
  return short.length > 240 ? `${short.slice(0, 237)}…` : short;
}
