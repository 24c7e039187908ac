import type { History } from './record.js';
import type { BatchPlan, JsonEvent, LegacySummary, Rng } from './scenario.js';

/** The ingest apps producers may post to (the second one appears when the partitions grow). */
export interface IngestTargets {
  urls: string[];
  /** Share of attempts sent to the last one, once there are two. */
  share: number;
}

/** What the producers were told, per tenant: event id → how many answers said accepted. */
export type Acks = Map<string, Map<string, number>>;

/** Events a 2xx answer said were rejected (tenant, id, code), valid or not. */
export interface Rejection {
  tenant: string;
  eventId: string;
  code: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function post(url: string, key: string, body: unknown): Promise<{ status: number; body: string; error?: string }> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: '', error: (err as Error).message };
  }
}

function targetOf(targets: IngestTargets, rng: Rng): { url: string; index: number } {
  const index = targets.urls.length > 1 && rng.chance(targets.share) ? targets.urls.length - 1 : 0;
  return { url: targets.urls[index] as string, index: index + 1 };
}

/**
 * Posts one request until an answer is a 2xx, like a client that honours 503 (with a short pause
 * instead of the advertised Retry-After). Every attempt is recorded. Throws on an answer that
 * retrying cannot fix, or when `deadlineMs` passes.
 */
async function untilAcknowledged(
  what: string,
  send: (url: string) => Promise<{ status: number; body: string; error?: string }>,
  targets: IngestTargets,
  rng: Rng,
  history: History,
  count: (status: number, body: string) => { accepted: number; rejected: number },
  deadlineMs = 45_000,
): Promise<string> {
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    const { url, index } = targetOf(targets, rng);
    const startMs = history.now();
    const res = await send(url);
    const ok = res.status >= 200 && res.status < 300;
    const counts = ok ? count(res.status, res.body) : { accepted: 0, rejected: 0 };
    history.attempts.push({ what, attempt, ingest: index, startMs, endMs: history.now(), status: res.status, ...counts, ...(res.error ? { error: res.error } : {}) });
    if (ok) return res.body;
    if (res.status !== 0 && res.status !== 503) throw new Error(`${what}: ingest answered ${res.status}: ${res.body.slice(0, 300)}`);
    if (Date.now() > until) throw new Error(`${what}: not acknowledged within ${deadlineMs} ms (last: ${res.status} ${res.error ?? res.body.slice(0, 200)})`);
    await sleep(40 + rng.int(0, 160));
  }
}

/**
 * Producers: `concurrency` loops sharing the planned batches in planned order, each batch sent
 * at its planned time (or as soon as a loop is free) and retried until acknowledged.
 */
export async function runProducers(options: {
  batches: readonly BatchPlan[];
  keys: ReadonlyMap<string, string>;
  targets: IngestTargets;
  history: History;
  rng: Rng;
  concurrency: number;
  acks: Acks;
  rejections: Rejection[];
}): Promise<void> {
  const { batches, keys, targets, history, rng, acks, rejections } = options;
  let next = 0;
  const loop = async (): Promise<void> => {
    for (;;) {
      const batch = batches[next++];
      if (batch === undefined) return;
      await sleep(history.at(batch.atMs) - Date.now());
      const key = keys.get(batch.tenant) as string;
      const body = await untilAcknowledged(
        `batch:${batch.index}`,
        (url) => post(`${url}/v1/events`, key, { events: batch.events }),
        targets,
        rng,
        history,
        (_s, text) => {
          const r = JSON.parse(text) as { accepted: number; rejected: number };
          return { accepted: r.accepted, rejected: r.rejected };
        },
      );
      const answer = JSON.parse(body) as { results: { index: number; status: string; code?: string }[] };
      const mine = acks.get(batch.tenant) ?? new Map<string, number>();
      acks.set(batch.tenant, mine);
      for (const r of answer.results) {
        const e = batch.events[r.index] as JsonEvent;
        if (r.status === 'accepted') mine.set(e.event_id, (mine.get(e.event_id) ?? 0) + 1);
        else rejections.push({ tenant: batch.tenant, eventId: e.event_id, code: r.code ?? '?' });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
}

/** Posts a legacy summary until acknowledged; returns the event ids the answer names. */
export async function postLegacy(
  what: string,
  tenant: string,
  summary: LegacySummary,
  options: { keys: ReadonlyMap<string, string>; targets: IngestTargets; history: History; rng: Rng; acks: Acks },
): Promise<string[]> {
  const key = options.keys.get(tenant) as string;
  const body = await untilAcknowledged(what, (url) => post(`${url}/api/billing/ingest`, key, summary), options.targets, options.rng, options.history, () => ({ accepted: 1, rejected: 0 }));
  const ids = (JSON.parse(body) as { eventIds: string[] }).eventIds;
  const mine = options.acks.get(tenant) ?? new Map<string, number>();
  options.acks.set(tenant, mine);
  for (const id of ids) mine.set(id, (mine.get(id) ?? 0) + 1);
  return ids;
}
