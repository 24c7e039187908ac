/** Sample sessions for the demo and the tests, with their hand-computed totals. */
import { randomBytes } from 'node:crypto';
import { formatMoney, parseMoney } from '@traceledger/core';

/** A JSON event as a producer posts it to /v1/events. */
export type JsonEvent = Record<string, unknown> & { event_id: string; session_id: string; type: string };

export interface SampleSessions {
  events: JsonEvent[];
  sessionIds: string[];
  agents: string[];
  /** Hand-computed totals the pipeline must reproduce exactly. */
  expected: { sessions: number; success: number; error: number; inputTokens: bigint; outputTokens: bigint; costNanos: bigint; cost: string };
}

/**
 * Makes `count` complete sessions (start, 1 to 3 usage events with awkward decimal costs,
 * a tool call, an end) with random ids of their own, all started within the last `withinMs`.
 */
export function sampleSessions(count: number, options: { now?: number; withinMs?: number; seed?: string } = {}): SampleSessions {
  const now = options.now ?? Date.now();
  const within = options.withinMs ?? 3 * 86_400_000;
  const run = options.seed ?? randomBytes(4).toString('hex');
  const agents = [`agent-${run}-a`, `agent-${run}-b`, `agent-${run}-c`];
  const teams = [`team-${run}-x`, `team-${run}-y`];
  const events: JsonEvent[] = [];
  const sessionIds: string[] = [];
  let inputTokens = 0n;
  let outputTokens = 0n;
  let costNanos = 0n;
  let success = 0;
  let error = 0;
  for (let i = 0; i < count; i++) {
    const sessionId = `sess-${run}-${i}`;
    sessionIds.push(sessionId);
    const agent = agents[i % agents.length] as string;
    const team = teams[i % teams.length] as string;
    const start = now - 60_000 - ((i * 7_919_777) % within);
    const at = (offsetMs: number): string => new Date(start + offsetMs).toISOString();
    const base = { session_id: sessionId, agent_id: agent, team_id: team };
    events.push({ ...base, event_id: `${sessionId}-start`, type: 'session.started', occurred_at: at(0) });
    const usages = 1 + (i % 3);
    for (let u = 0; u < usages; u++) {
      const inTok = 100 + ((i * 37 + u * 11) % 5000);
      const outTok = 10 + ((i * 13 + u * 7) % 900);
      // Costs like 0.000123457 and 0.1 do not add up exactly in floating point.
      const cost = u % 2 === 0 ? `0.${String(100_000_000 + ((i * 7_777 + u * 333) % 899_999_999)).padStart(9, '0')}` : '0.1';
      inputTokens += BigInt(inTok);
      outputTokens += BigInt(outTok);
      costNanos += parseMoney(cost);
      events.push({
        ...base,
        event_id: `${sessionId}-use-${u}`,
        type: 'llm.usage',
        occurred_at: at(1000 + u * 1000),
        provider: 'openai',
        model: 'gpt-4o',
        input_tokens: inTok,
        output_tokens: outTok,
        cost,
      });
    }
    events.push({ ...base, event_id: `${sessionId}-tool`, type: 'tool.call', occurred_at: at(500), tool_name: 'search', duration_ms: 120 });
    const status = i % 4 === 3 ? 'error' : 'success';
    if (status === 'success') success++;
    else error++;
    events.push({ ...base, event_id: `${sessionId}-end`, type: 'session.ended', occurred_at: at(30_000 + i), status });
  }
  return {
    events,
    sessionIds,
    agents,
    expected: { sessions: count, success, error, inputTokens, outputTokens, costNanos, cost: formatMoney(costNanos) },
  };
}

/** Fisher-Yates shuffle (order must not matter to the fold). */
export function shuffled<T>(items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
