/**
 * What the throughput benchmarks share: medians with min–max, the machine's description, the
 * latest figures (bench/results/latest.json, one key per benchmark) and the dated history
 * (docs/benchmarks.md), and Kafka's own tools for the limits.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const exec = promisify(execFile);

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median: Math.round(median), min: Math.round(sorted[0] ?? 0), max: Math.round(sorted[sorted.length - 1] ?? 0) };
}

/**
 * The `q`-quantile (0 < q <= 1) by nearest rank: the smallest value with at least q of the values
 * at or below it (Infinity stays Infinity: a value never observed counts as larger than any); NaN
 * for no values.
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export const fmt = (n: number): string => n.toLocaleString('en');
/** `median (min–max)`. */
export const cell = (s: Stat): string => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
export const ratio = (a: Stat, limit: Stat): string => `${(a.median / limit.median).toFixed(2)}×`;

export function machine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB; broker, Postgres, services and load generator on one machine`;
}

/** `--no-record` on the command line: print the figures, write neither latest.json nor the history. */
export const NO_RECORD = process.argv.includes('--no-record');

/** What this process recorded, by key, also under --no-record (the pipeline table reads it). */
const recorded = new Map<string, Record<string, unknown>>();

/** The figures recorded under `key` by a benchmark that ran in this process, if any. */
export function recordedFigures(key: string): Record<string, unknown> | undefined {
  return recorded.get(key);
}

/** Stores `figures` under `key` in bench/results/latest.json, keeping the other benchmarks' keys. */
export function recordLatest(key: string, figures: Record<string, unknown>): void {
  recorded.set(key, figures);
  if (NO_RECORD) return;
  const path = join(ROOT, 'bench/results/latest.json');
  mkdirSync(dirname(path), { recursive: true });
  const latest = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : {};
  latest[key] = { measuredAt: new Date().toISOString(), machine: machine(), ...figures };
  writeFileSync(path, `${JSON.stringify(latest, null, 2)}\n`);
}

/** Appends dated rows `[benchmark, figure, limit, ratio]` to docs/benchmarks.md. */
export function appendHistory(rows: readonly [string, string, string, string][]): void {
  if (NO_RECORD) return;
  const path = join(ROOT, 'docs/benchmarks.md');
  if (!existsSync(path)) {
    writeFileSync(path, '# Benchmarks: history\n\n| date | benchmark | figure | limit, same run | ratio | machine |\n|---|---|---:|---:|---:|---|\n');
  }
  const date = new Date().toISOString().slice(0, 10);
  for (const r of rows) appendFileSync(path, `| ${date} | ${r.join(' | ')} | ${machine()} |\n`);
}

/** The classpath of Kafka's tools (ProducerPerformance, ConsumerPerformance), fetched on first use. */
export async function kafkaToolsClasspath(): Promise<string> {
  const { stdout } = await exec('bash', [join(ROOT, 'scripts/kafka-local.sh'), 'tools-classpath']);
  return stdout.trim();
}

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of the processes `match` picks (by command line or pid), from /proc/<pid>/stat. */
export async function cpuSeconds(match: (cmdline: string, pid: string, ppid: string) => boolean): Promise<number> {
  let ticks = 0;
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
      if (!match(cmd, pid, fields[1] ?? '')) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / TICKS;
}
