/**
 * Resident memory of the service processes, sampled from /proc/<pid>/status (VmRSS) once a
 * second, and what the e2e benchmark reads from the samples: peaks over a time span and the trend
 * of a soak.
 */
import { readFile } from 'node:fs/promises';
import { TraceLedgerError } from '@traceledger/core';
import { readProcess } from '../tests/helpers/run-processes.js';

const MB = 1024 * 1024;

/** VmRSS of `pid` in bytes, or null when the process is gone. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Throws unless `pid` is the Node process running `services/<service>/src/main.ts` itself (not an
 * npm or sh wrapper around it, whose RSS would say nothing about the service).
 */
export async function assertServiceProcess(pid: number, service: string): Promise<void> {
  const p = await readProcess(pid);
  const exe = p?.argv[0] ?? '';
  if (p === null || !/(^|\/)node(\d+)?$/.test(exe) || !p.argv.includes(`services/${service}/src/main.ts`)) {
    throw new TraceLedgerError('TL_BENCH_SERVICE_FAILED', `pid ${pid} is not the node process of ${service}: ${p === null ? 'gone' : p.argv.join(' ')}`);
  }
}

export interface RssSample {
  /** performance.now() of the sample. */
  atMs: number;
  /** MB per service name (missing: the process was gone). */
  mb: Record<string, number>;
}

/** Samples the RSS of each named process every `intervalMs` until stopped. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly processes: readonly { name: string; pid: number }[],
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    const tick = async (): Promise<void> => {
      const atMs = performance.now();
      const mb: Record<string, number> = {};
      for (const p of this.processes) {
        const b = await rssBytes(p.pid);
        if (b !== null) mb[p.name] = b / MB;
      }
      this.samples.push({ atMs, mb });
      if (this.timer !== null) this.timer = setTimeout(() => void tick(), Math.max(0, this.intervalMs - (performance.now() - atMs)));
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The samples of `name` taken in [fromMs, toMs], as (ms, MB) points. */
  series(name: string, fromMs: number, toMs: number): { atMs: number; mb: number }[] {
    return this.samples.flatMap((s) => (s.atMs >= fromMs && s.atMs <= toMs && s.mb[name] !== undefined ? [{ atMs: s.atMs, mb: s.mb[name] as number }] : []));
  }

  /** The highest RSS of `name` in [fromMs, toMs] in MB, or null with no sample. */
  peak(name: string, fromMs: number, toMs: number): number | null {
    const points = this.series(name, fromMs, toMs);
    return points.length === 0 ? null : Math.max(...points.map((p) => p.mb));
  }
}

/** Slope of the least-squares line through the points, in y units per x unit; 0 for fewer than 2 points. */
export function leastSquaresSlope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

/** How long the flat rule extrapolates the slope, and what share of the start RSS it may add. */
export const FLAT_RULE = { horizonMin: 10, share: 0.1 } as const;
export const FLAT_RULE_TEXT = `flat: the least-squares slope over the soak's second half, extrapolated over ${FLAT_RULE.horizonMin} min, adds less than ${FLAT_RULE.share * 100}% of the RSS at the soak's start`;

export interface SoakMemory {
  /** RSS after `startAfterMs` of the soak (the first sample from then on). */
  startMb: number;
  endMb: number;
  peakMb: number;
  /** Least-squares slope over the soak's second half. */
  slopeMbPerMin: number;
  flat: boolean;
}

/** What the soak [fromMs, toMs] did to `name`'s RSS (see FLAT_RULE_TEXT); null without samples. */
export function soakMemory(sampler: RssSampler, name: string, fromMs: number, toMs: number, startAfterMs: number): SoakMemory | null {
  const all = sampler.series(name, fromMs, toMs);
  const start = all.find((p) => p.atMs >= fromMs + startAfterMs) ?? all[all.length - 1];
  const end = all[all.length - 1];
  if (start === undefined || end === undefined) return null;
  const mid = fromMs + (toMs - fromMs) / 2;
  const slopeMbPerMin = leastSquaresSlope(all.filter((p) => p.atMs >= mid).map((p) => ({ x: p.atMs / 60_000, y: p.mb })));
  return {
    startMb: start.mb,
    endMb: end.mb,
    peakMb: Math.max(...all.map((p) => p.mb)),
    slopeMbPerMin,
    flat: slopeMbPerMin * FLAT_RULE.horizonMin < FLAT_RULE.share * start.mb,
  };
}
