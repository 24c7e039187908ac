/**
 * What a run did, as it happened: every HTTP attempt and its answer, every operation with its
 * start, end and result, and free-form notes (a consumer that died, a fault switched on). Times
 * are ms since the live phase started (negative: during setup).
 */

export interface AttemptRecord {
  /** `batch:<index>` or `legacy:<sessionId>:<first|repost|second>`. */
  what: string;
  attempt: number;
  ingest: number;
  startMs: number;
  endMs: number;
  /** HTTP status, or 0 for a transport error. */
  status: number;
  /** Events the answer said were accepted / rejected. */
  accepted: number;
  rejected: number;
  error?: string;
}

export interface OpRecord {
  name: string;
  startMs: number;
  endMs: number | null;
  ok: boolean | null;
  detail: string;
}

export class History {
  readonly attempts: AttemptRecord[] = [];
  readonly ops: OpRecord[] = [];
  private origin = Date.now();

  /** Times from now on are relative to this moment (the start of the live phase). */
  startClock(): void {
    const shift = Date.now() - this.origin;
    this.origin = Date.now();
    for (const o of this.ops) {
      o.startMs -= shift;
      if (o.endMs !== null) o.endMs -= shift;
    }
  }

  now(): number {
    return Date.now() - this.origin;
  }

  /** The absolute time (epoch ms) of a moment relative to the clock's origin. */
  at(ms: number): number {
    return this.origin + ms;
  }

  /** Records `fn` as an operation; its result's `describe` goes into the record. Rethrows. */
  async op<T>(name: string, fn: () => Promise<T>, describe: (t: T) => string = () => ''): Promise<T> {
    const rec: OpRecord = { name, startMs: this.now(), endMs: null, ok: null, detail: '' };
    this.ops.push(rec);
    try {
      const t = await fn();
      rec.ok = true;
      rec.detail = describe(t);
      return t;
    } catch (err) {
      rec.ok = false;
      rec.detail = (err as Error).message.split('\n').slice(0, 6).join(' | ');
      throw err;
    } finally {
      rec.endMs = this.now();
    }
  }

  /** An instantaneous event worth seeing in the timeline. */
  note(name: string, detail = ''): void {
    const t = this.now();
    this.ops.push({ name, startMs: t, endMs: t, ok: true, detail });
  }

  failedOps(): OpRecord[] {
    return this.ops.filter((o) => o.ok === false);
  }

  /** One line per operation, in start order. */
  timeline(): string {
    const s = (ms: number | null) => (ms === null ? '   ?   ' : `${(ms / 1000).toFixed(2).padStart(6)}s`);
    return [...this.ops]
      .sort((a, b) => a.startMs - b.startMs)
      .map((o) => `  [${s(o.startMs)} → ${s(o.endMs)}] ${o.ok === false ? 'FAIL' : o.ok === null ? 'RUN ' : 'ok  '} ${o.name}${o.detail ? `: ${o.detail}` : ''}`)
      .join('\n');
  }

  /** Counts of answers per status and ingest, and the first few 503s. */
  attemptSummary(): string {
    const counts = new Map<string, number>();
    for (const a of this.attempts) {
      const k = `ingest#${a.ingest} ${a.status === 0 ? 'transport error' : a.status}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const retried = new Set(this.attempts.filter((a) => a.attempt > 1).map((a) => a.what)).size;
    const first503 = this.attempts.filter((a) => a.status === 503).slice(0, 3).map((a) => `${a.what}#${a.attempt} at ${(a.startMs / 1000).toFixed(2)}s`);
    return `  attempts: ${this.attempts.length} (${[...counts].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}); ${retried} requests retried; first 503s: ${first503.join(', ') || 'none'}`;
  }
}
