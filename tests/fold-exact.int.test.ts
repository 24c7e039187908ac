import { describe, expect, it } from 'vitest';
import { formatMoney, normaliseDecimalText, parseMoney } from '@traceledger/core';
import { shuffled } from '../scripts/sample-events.js';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { uid, waitFor } from './helpers/world.js';

const p = await startPipeline();
const post = (events: unknown[]) => p.ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });

describe('one session posted shuffled and duplicated across requests, with a void and a late event', () => {
  it('gives the hand-computed row, and billing and analytics match it exactly', async () => {
    const sid = `exact-${uid()}`;
    const agent = `agent-${uid()}`;
    const t0 = Date.now() - 3 * 86_400_000; // three days ago
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const base = { session_id: sid, agent_id: agent, team_id: 'team-exact' };
    const usage = (n: number, input: number, output: number, cost: string) => ({
      ...base, event_id: `${sid}-u${n}`, type: 'llm.usage', occurred_at: at(10 + n), model: 'gpt-4o', input_tokens: input, output_tokens: output, cost,
    });
    const events = [
      { ...base, event_id: `${sid}-start`, type: 'session.started', occurred_at: at(0) },
      usage(1, 1000, 200, '0.012345678'),
      usage(2, 2000, 300, '0.1'),
      usage(3, 3000, 400, '0.2'), // voided below
      usage(4, 500, 50, '0.000000001'),
      { ...base, event_id: `${sid}-tool`, type: 'tool.call', occurred_at: at(5), tool_name: 'search', duration_ms: 40 },
      { ...base, event_id: `${sid}-end-a`, type: 'session.ended', occurred_at: at(100), status: 'error', error: 'first' },
      // Same end time: the greater event id decides.
      { ...base, event_id: `${sid}-end-b`, type: 'session.ended', occurred_at: at(100), status: 'success' },
      { session_id: sid, event_id: `${sid}-void-u3`, type: 'event.voided', occurred_at: at(200), voids_event_id: `${sid}-u3`, reason: 'double-billed by the producer' },
    ];
    // Three requests, each a shuffled mix with repeats of events from the others.
    const all = shuffled([...events, ...events.slice(0, 4), ...events.slice(3)]);
    const chunk = Math.ceil(all.length / 3);
    for (let i = 0; i < all.length; i += chunk) {
      const res = await post(all.slice(i, i + chunk));
      expect(res.statusCode, res.body).toBe(202);
    }
    await p.drained();
    const expectedCost = formatMoney(parseMoney('0.012345678') + parseMoney('0.1') + parseMoney('0.000000001'));
    const row = async () => {
      const r = (
        await p.pool.query(
          `SELECT status, input_tokens::int AS input, output_tokens::int AS output, cost::text, event_count::int AS event_count, tool_calls::int AS tool_calls,
                  duration_ms::int AS duration, started_at = $2::timestamptz AS started_ok
           FROM trace_sessions WHERE session_id = $1`,
          [sid, at(0)],
        )
      ).rows[0];
      return r === undefined ? undefined : { ...r, cost: normaliseDecimalText(r.cost) };
    };
    // start, u1, u2, u4, tool, two ends: u3 is voided and the void itself is not a session event.
    expect(await row()).toEqual({
      status: 'success', input: 3500, output: 550, cost: expectedCost, event_count: 7, tool_calls: 1, duration: 100_000, started_ok: true,
    });

    // A late event: occurred inside the session, delivered three days later.
    const late = await post([usage(5, 7, 3, '1.5')]);
    expect(late.statusCode).toBe(202);
    await waitFor(async () => (await row())?.input === 3507, { what: 'the late event to be folded' });
    const lateCost = formatMoney(parseMoney(expectedCost) + parseMoney('1.5'));
    expect((await row())?.cost).toBe(lateCost);

    const agentAnswer = await p.query.inject({ method: 'GET', url: `/api/analytics/agents/${agent}?period=7d` });
    expect(rawNumber(agentAnswer.body, 'totalCost')).toBe(lateCost);
    expect(agentAnswer.json().data).toMatchObject({ totalSessions: 1, totalInputTokens: 3507, totalOutputTokens: 553, statusCounts: { success: 1, error: 0 } });
    const billing = await p.query.inject({ method: 'GET', url: '/api/billing/summary' });
    const platform = await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=all' });
    expect(rawNumber(billing.body, 'totalCost')).toBe(lateCost);
    expect(rawNumber(platform.body, 'totalCost')).toBe(lateCost);
  });

  it('cancels an event whose void arrived first', async () => {
    const sid = `void-first-${uid()}`;
    const now = new Date(Date.now() - 60_000).toISOString();
    const base = { session_id: sid, agent_id: 'void-agent' };
    expect((await post([{ ...base, event_id: `${sid}-v`, type: 'event.voided', occurred_at: now, voids_event_id: `${sid}-u` }])).statusCode).toBe(202);
    await p.drained();
    expect((await post([
      { ...base, event_id: `${sid}-u`, type: 'llm.usage', occurred_at: now, input_tokens: 100, cost: '9' },
      { ...base, event_id: `${sid}-u2`, type: 'llm.usage', occurred_at: now, input_tokens: 1, cost: '0.5' },
    ])).statusCode).toBe(202);
    await p.drained();
    const { rows } = await p.pool.query('SELECT input_tokens::int AS input, cost::text, event_count::int AS event_count FROM trace_sessions WHERE session_id = $1', [sid]);
    expect(rows).toEqual([{ input: 1, cost: '0.500000000', event_count: 1 }]);
  });
});
