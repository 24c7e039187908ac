import { randomBytes } from 'node:crypto';
import { formatMoney, parseMoney } from '@traceledger/core';

/** A JSON event as a producer posts it. */
export type JsonEvent = Record<string, unknown> & { event_id: string; session_id: string; type: string };

/** An event the ingest API acknowledged (a 2xx whose result line says accepted). */
export interface AckedEvent {
  tenant: string;
  event: JsonEvent;
}

/** One answer of the ingest API to one attempt. */
export interface Answer {
  status: number;
  retryAfter: string | undefined;
  atMs: number;
  /** Set when the request failed below HTTP (connection refused or reset). */
  transportError?: string;
}

/** Posts one batch for one tenant; resolves with the HTTP answer (or throws on a transport error). */
export type Poster = (tenant: string, events: JsonEvent[]) => Promise<{ status: number; retryAfter: string | undefined; body: string }>;

/**
 * Makes events the way an agent platform would: sessions of several tenants that start, use
 * models (token counts and costs with 9 decimals, which floats cannot add exactly) and call tools,
 * spread over time, each event with an id of its own.
 */
export class EventFactory {
  private readonly run = randomBytes(3).toString('hex');
  private seq = 0;
  /** Batches made: the tenants take turns by batch (by event count, a batch size divisible by the number of tenants gave every batch to the first). */
  private made = 0;
  private readonly open = new Map<string, string[]>();

  constructor(readonly tenants: readonly string[]) {}

  /** A batch of `size` new events, all of one tenant (the tenant comes from the caller's credentials). */
  batch(size: number): { tenant: string; events: JsonEvent[] } {
    const tenant = this.tenants[this.made++ % this.tenants.length] as string;
    const sessions = this.open.get(tenant) ?? [];
    this.open.set(tenant, sessions);
    const events: JsonEvent[] = [];
    for (let i = 0; i < size; i++) {
      const n = this.seq++;
      let session = sessions[n % 7];
      const at = new Date(Date.now() - 60_000 + (n % 1000)).toISOString();
      if (session === undefined || n % 23 === 0) {
        session = `s-${this.run}-${n}`;
        sessions[n % 7] = session;
        events.push({ event_id: `e-${this.run}-${n}`, session_id: session, agent_id: `agent-${n % 3}`, team_id: `team-${n % 2}`, type: 'session.started', occurred_at: at });
        continue;
      }
      const base = { event_id: `e-${this.run}-${n}`, session_id: session, agent_id: `agent-${n % 3}`, occurred_at: at };
      if (n % 5 === 0) {
        events.push({ ...base, type: 'tool.call', tool_name: 'search', duration_ms: n % 900 });
      } else {
        events.push({
          ...base,
          type: 'llm.usage',
          provider: 'openai',
          model: 'gpt-4o',
          input_tokens: 100 + (n % 4000),
          output_tokens: 10 + (n % 700),
          cost: `0.${String((n * 7_777_777) % 1_000_000_000).padStart(9, '0')}`,
        });
      }
    }
    return { tenant, events };
  }
}

/** Hand-computed totals of acknowledged events, per tenant. */
export interface TenantTotals {
  events: number;
  sessions: number;
  inputTokens: bigint;
  outputTokens: bigint;
  cost: string;
}

/** Totals per tenant of the acknowledged events, computed without the pipeline. */
export function expectedTotals(acked: readonly AckedEvent[]): Map<string, TenantTotals> {
  const acc = new Map<string, { events: number; sessions: Set<string>; input: bigint; output: bigint; nanos: bigint }>();
  for (const { tenant, event } of acked) {
    const t = acc.get(tenant) ?? { events: 0, sessions: new Set<string>(), input: 0n, output: 0n, nanos: 0n };
    acc.set(tenant, t);
    t.events += 1;
    t.sessions.add(event.session_id);
    t.input += BigInt((event['input_tokens'] as number | undefined) ?? 0);
    t.output += BigInt((event['output_tokens'] as number | undefined) ?? 0);
    t.nanos += event['cost'] === undefined ? 0n : parseMoney(event['cost'] as string);
  }
  return new Map(
    [...acc].map(([tenant, t]) => [tenant, { events: t.events, sessions: t.sessions.size, inputTokens: t.input, outputTokens: t.output, cost: formatMoney(t.nanos) }]),
  );
}

export interface Traffic {
  /** Every event acknowledged so far. */
  readonly acked: AckedEvent[];
  /** Every answer so far, including the failed attempts. */
  readonly answers: Answer[];
  /** Batches fully acknowledged so far. */
  batches(): number;
  /** Stops sending new batches, lets the batch in hand be acknowledged, and returns the acknowledged events. */
  stop(): Promise<AckedEvent[]>;
}

/**
 * A producer that keeps posting batches, one at a time, each retried (same events, same ids) until
 * it is acknowledged, like a client that honours 503 + Retry-After (with a short pause instead of
 * the advertised seconds, to keep tests short). `deadlineMs` bounds how long one batch may take
 * to get through; past it the traffic fails.
 */
export function startTraffic(post: Poster, factory: EventFactory, options: { batchSize?: number; pauseMs?: number; retryPauseMs?: number; deadlineMs?: number } = {}): Traffic {
  const { batchSize = 12, pauseMs = 40, retryPauseMs = 250, deadlineMs = 90_000 } = options;
  const acked: AckedEvent[] = [];
  const answers: Answer[] = [];
  let stopping = false;
  let done = 0;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const loop = (async () => {
    while (!stopping) {
      const { tenant, events } = factory.batch(batchSize);
      const until = Date.now() + deadlineMs;
      for (;;) {
        if (Date.now() > until) throw new Error(`a batch was not acknowledged within ${deadlineMs} ms; last answers: ${JSON.stringify(answers.slice(-5))}`);
        let res: Awaited<ReturnType<Poster>> | null = null;
        try {
          res = await post(tenant, events);
        } catch (err) {
          answers.push({ status: 0, retryAfter: undefined, atMs: Date.now(), transportError: (err as Error).message });
        }
        if (res !== null) {
          answers.push({ status: res.status, retryAfter: res.retryAfter, atMs: Date.now() });
          if (res.status === 202 || res.status === 207) {
            const body = JSON.parse(res.body) as { results: { index: number; status: string }[] };
            for (const r of body.results) {
              const event = events[r.index];
              if (r.status === 'accepted' && event) acked.push({ tenant, event });
            }
            break;
          }
          if (res.status !== 503) throw new Error(`ingest answered ${res.status}: ${res.body}`);
        }
        await sleep(retryPauseMs);
      }
      done += 1;
      await sleep(pauseMs);
    }
  })();
  return {
    acked,
    answers,
    batches: () => done,
    async stop() {
      stopping = true;
      await loop;
      return acked;
    },
  };
}
