/**
 * The e2e benchmark's load: an open-loop generator that posts batches to ingest on a fixed
 * timetable whatever the answers do, some of them carrying a probe event, and a poller that asks
 * the query API until it counts each acknowledged probe.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { percentile } from './report.js';
import { realisticEvents } from './stack.js';

/** Sleeps `ms`, or rejects with the signal's reason when it aborts first. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(Math.max(0, ms), undefined, { signal });
  } catch {
    signal.throwIfAborted();
  }
}

/**
 * One probe: an event whose session and agent (`probe-<run>-<n>`) no other event has, so the
 * moment the query API counts a session for that agent is the moment that event became visible.
 */
export interface Probe {
  n: number;
  agentId: string;
  /** Which part of the run sent it (a rate's warm-up or window, the soak); only windows are reported. */
  phase: string;
  /** performance.now() when ingest's 202 for its request arrived; null until then. */
  ackAtMs: number | null;
  /** performance.now() when the first answer counting it arrived; null until then. */
  seenAtMs: number | null;
  /** Not seen within the poller's timeout after its ack. */
  lost: boolean;
}

/** Milliseconds from ack to counted; Infinity for a lost probe (it never was counted). */
export function probeLatencyMs(p: Probe): number {
  if (p.lost || p.ackAtMs === null || p.seenAtMs === null) return Number.POSITIVE_INFINITY;
  return p.seenAtMs - p.ackAtMs;
}

/** Most agents one `/api/analytics/usage` request may filter on (the query API's own limit). */
const AGENTS_PER_POLL = 100;

/**
 * Polls every pending probe together, once every `intervalMs`: one `GET /api/analytics/usage?
 * agent=<pending probes>&groupBy=agent` per 100 pending probes (so the load on the query API does
 * not grow with the number pending), over real HTTP with a query-scope key. A probe is seen when a
 * row of its agent counts a session; lost when not seen within `timeoutMs` of its ack.
 */
export class ProbePoller {
  private readonly pending = new Set<Probe>();
  private running: Promise<void> | null = null;
  private stopping = false;
  /** Milliseconds between the starts of consecutive polls while probes were pending. */
  readonly gapsMs: number[] = [];
  polls = 0;
  failedPolls = 0;
  lastFailure = '';

  constructor(
    private readonly options: { queryUrl: string; key: string; intervalMs: number; timeoutMs: number; fromIso: string; toIso: string; signal: AbortSignal },
  ) {}

  /** Starts watching an acknowledged probe. */
  track(probe: Probe): void {
    this.pending.add(probe);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  /** Resolves once every probe tracked so far has been seen or lost. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await sleep(this.options.intervalMs, this.options.signal);
  }

  private async loop(): Promise<void> {
    const { intervalMs, timeoutMs, signal } = this.options;
    let lastPollMs: number | null = null;
    while (!this.stopping && !signal.aborted) {
      const started = performance.now();
      for (const p of this.pending) {
        if (p.ackAtMs !== null && started - p.ackAtMs > timeoutMs) {
          p.lost = true;
          this.pending.delete(p);
        }
      }
      const list = [...this.pending];
      if (list.length > 0) {
        if (lastPollMs !== null) this.gapsMs.push(started - lastPollMs);
        lastPollMs = started;
        const chunks: Probe[][] = [];
        for (let i = 0; i < list.length; i += AGENTS_PER_POLL) chunks.push(list.slice(i, i + AGENTS_PER_POLL));
        await Promise.all(chunks.map((c) => this.poll(c)));
      } else {
        lastPollMs = null;
      }
      await sleep(intervalMs - (performance.now() - started), signal).catch(() => undefined);
    }
  }

  private async poll(probes: Probe[]): Promise<void> {
    const { queryUrl, key, fromIso, toIso, signal } = this.options;
    const byAgent = new Map(probes.map((p) => [p.agentId, p]));
    const qs = new URLSearchParams({ agent: [...byAgent.keys()].join(','), groupBy: 'agent', bucket: 'day', from: fromIso, to: toIso, limit: '1000' });
    this.polls += 1;
    try {
      const res = await fetch(`${queryUrl}/api/analytics/usage?${qs}`, {
        headers: { authorization: `Bearer ${key}` },
        signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      });
      const text = await res.text();
      const at = performance.now();
      if (res.status !== 200) {
        this.failedPolls += 1;
        this.lastFailure = `${res.status} ${text.slice(0, 200)}`;
        return;
      }
      const body = JSON.parse(text) as { data: { rows: { agent?: string | null; sessions: number | string }[] } };
      for (const row of body.data.rows) {
        const p = row.agent == null ? undefined : byAgent.get(row.agent);
        if (p !== undefined && Number(row.sessions) >= 1 && p.seenAtMs === null) {
          p.seenAtMs = at;
          this.pending.delete(p);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      this.failedPolls += 1;
      this.lastFailure = (err as Error).message;
    }
  }
}

export interface OfferOptions {
  /** Offered events per second. */
  eventsPerSec: number;
  warmupMs: number;
  windowMs: number;
  /** Phase names of the probes sent in the warm-up and the window. */
  phase: string;
}

/** What one offered rate got, counted over its measured window (after the warm-up). */
export interface OfferResult<T> {
  /** Requests the timetable held in the window. */
  scheduled: number;
  /** Requests whose time came while `maxInFlight` were still unanswered, or that the generator reached over 1 s late: not sent. */
  unsent: number;
  /** Requests answered with anything but 202, or not answered (transport error, 30 s timeout). */
  failed: number;
  /** Count per answer (`202`, `503`, `error: ...`). */
  answers: Record<string, number>;
  /** Events in the 202 answers that arrived within the window, per second of it. */
  achievedEventsPerSec: number;
  /** How late the sent requests went out, 99th percentile, ms. */
  sendLagP99Ms: number;
  /** The probes of the window (acknowledged or not). */
  probes: Probe[];
  windowStartMs: number;
  windowEndMs: number;
  /** What `atWindowEnd` returned. */
  atWindowEnd: T;
}

/** Requests sent this much after their time are not sent at all: the generator itself fell behind. */
const MAX_SEND_LAG_MS = 1000;
/** An unanswered request is given up after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Posts batches of `batch` realistic events to ingest on a fixed timetable (one request every
 * batch/rate seconds from the start), whatever the answers do: a slow answer never delays the next
 * request. At most `maxInFlight` requests are unanswered at once; a request whose time comes when
 * that many are out is not sent and counted as unsent, the generator's sign of overload. About
 * `probesPerSec` requests a second carry a probe event in place of their last event.
 */
export class LoadGenerator {
  private readonly seq = { n: 0 };
  private probeSeq = 0;
  private inFlight = 0;

  constructor(
    private readonly options: { ingestUrl: string; key: string; runId: string; batch: number; maxInFlight: number; probesPerSec: number; poller: ProbePoller; signal: AbortSignal },
  ) {}

  /** Offers `eventsPerSec` for the warm-up and then the window; calls `atWindowEnd` when the window's timetable ends. */
  async offer<T>(o: OfferOptions, atWindowEnd: () => Promise<T>): Promise<OfferResult<T>> {
    const { batch, maxInFlight, probesPerSec, signal } = this.options;
    const intervalMs = (1000 * batch) / o.eventsPerSec;
    // The share of requests that carry a probe (at most all of them).
    const probeShare = Math.min(1, (intervalMs * probesPerSec) / 1000);
    const t0 = performance.now();
    const windowStartMs = t0 + o.warmupMs;
    const endMs = windowStartMs + o.windowMs;
    const answers: Record<string, number> = {};
    const sendLags: number[] = [];
    const probes: Probe[] = [];
    let outstanding = 0;
    let scheduled = 0;
    let unsent = 0;
    let failed = 0;
    let ackedInWindow = 0;
    for (let i = 0; ; i++) {
      const dueMs = t0 + i * intervalMs;
      if (dueMs >= endMs) break;
      const now = performance.now();
      // Sleep until the request's time, or at least let the answers that arrived be read.
      if (dueMs > now) await sleep(dueMs - now, signal);
      else await new Promise((r) => setImmediate(r));
      signal.throwIfAborted();
      const inWindow = dueMs >= windowStartMs;
      if (inWindow) scheduled += 1;
      const lagMs = performance.now() - dueMs;
      if (this.inFlight >= maxInFlight || lagMs > MAX_SEND_LAG_MS) {
        if (inWindow) unsent += 1;
        continue;
      }
      let probe: Probe | null = null;
      if (Math.floor((i + 1) * probeShare) > Math.floor(i * probeShare)) {
        const n = this.probeSeq++;
        probe = { n, agentId: `probe-${this.options.runId}-${n}`, phase: inWindow ? o.phase : `${o.phase} warm-up`, ackAtMs: null, seenAtMs: null, lost: false };
        if (inWindow) probes.push(probe);
      }
      if (inWindow) sendLags.push(lagMs);
      outstanding += 1;
      void this.post(probe).then((answer) => {
        outstanding -= 1;
        const at = performance.now();
        if (inWindow) answers[answer] = (answers[answer] ?? 0) + 1;
        if (answer !== '202') {
          if (inWindow) failed += 1;
          return;
        }
        if (at >= windowStartMs && at <= endMs) ackedInWindow += batch;
        if (probe !== null) {
          probe.ackAtMs = at;
          this.options.poller.track(probe);
        }
      });
    }
    const windowEndMs = performance.now();
    const atEnd = await atWindowEnd();
    while (outstanding > 0) await sleep(5, signal);
    return {
      scheduled,
      unsent,
      failed,
      answers,
      achievedEventsPerSec: ackedInWindow / (o.windowMs / 1000),
      sendLagP99Ms: sendLags.length === 0 ? 0 : percentile(sendLags, 0.99),
      probes,
      windowStartMs,
      windowEndMs,
      atWindowEnd: atEnd,
    };
  }

  /** One request; resolves with its answer's status (`202`, `503`, ...) or `error: <reason>`, never rejects. */
  private async post(probe: Probe | null): Promise<string> {
    const { ingestUrl, key, runId, batch, signal } = this.options;
    const events = realisticEvents(runId, this.seq, probe === null ? batch : batch - 1);
    if (probe !== null) {
      const at = new Date().toISOString();
      events.push(`{"event_id":"p-${runId}-${probe.n}","session_id":"probe-s-${runId}-${probe.n}","agent_id":"${probe.agentId}","team_id":"team-probe","occurred_at":"${at}","type":"session.started"}`);
    }
    this.inFlight += 1;
    try {
      const res = await fetch(ingestUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: `{"events":[${events.join(',')}]}`,
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      await res.arrayBuffer();
      return String(res.status);
    } catch (err) {
      return `error: ${(err as Error).name}`;
    } finally {
      this.inFlight -= 1;
    }
  }
}
