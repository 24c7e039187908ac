import { describe, expect, it } from 'vitest';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { uid } from './helpers/world.js';

const p = await startPipeline();

describe('server-side pricing from the price book (prices/*.json)', () => {
  it('bills tokens at the price in force, prefers a reported cost, and marks unknown models unpriced instead of $0', async () => {
    const agent = `pricing-${uid()}`;
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const priced = `priced-${uid()}`;
    const unpriced = `unpriced-${uid()}`;
    const res = await p.ingest.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          // gpt-4o-mini (2025-06-01 book): 0.15 in, 0.60 out, 0.075 cached, per million tokens.
          { event_id: `${priced}-1`, session_id: priced, agent_id: agent, type: 'llm.usage', occurred_at: at, provider: 'openai', model: 'gpt-4o-mini-2024-07-18', input_tokens: 12_345, output_tokens: 678, cached_input_tokens: 1000 },
          { event_id: `${priced}-2`, session_id: priced, agent_id: agent, type: 'llm.usage', occurred_at: at, provider: 'openai', model: 'gpt-4o-mini', input_tokens: 1, output_tokens: 1, cost: '0.5' },
          { event_id: `${unpriced}-1`, session_id: unpriced, agent_id: agent, type: 'llm.usage', occurred_at: at, provider: 'local', model: 'my-llama-70b', input_tokens: 100, output_tokens: 50 },
          // The same unknown model with a reported cost: priced, so its tokens are not unpriced.
          { event_id: `${unpriced}-2`, session_id: unpriced, agent_id: agent, type: 'llm.usage', occurred_at: at, provider: 'local', model: 'my-llama-70b', input_tokens: 1000, cost: '0.1' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(202);
    await p.drained();

    const { rows } = await p.pool.query(
      `SELECT session_id, cost::text, price_version, unpriced_events::int AS unpriced_events, unpriced_tokens::int AS unpriced_tokens, input_tokens::int AS input
       FROM trace_sessions WHERE agent_id = $1 ORDER BY session_id`,
      [agent],
    );
    // (12345 x 0.15 + 678 x 0.60 + 1000 x 0.075) / 1e6 = 0.00233355, plus the reported 0.5.
    expect(rows).toEqual([
      { session_id: priced, cost: '0.502333550', price_version: '2025-06-01', unpriced_events: 0, unpriced_tokens: 0, input: 12_346 },
      { session_id: unpriced, cost: '0.100000000', price_version: null, unpriced_events: 1, unpriced_tokens: 150, input: 1100 },
    ]);
    const { rows: ledger } = await p.pool.query(
      'SELECT event_id, cost_source, cost::text FROM applied_events WHERE session_id = ANY($1) ORDER BY event_id',
      [[priced, unpriced]],
    );
    expect(ledger).toEqual([
      { event_id: `${priced}-1`, cost_source: 'book', cost: '0.002333550' },
      { event_id: `${priced}-2`, cost_source: 'reported', cost: '0.500000000' },
      { event_id: `${unpriced}-1`, cost_source: null, cost: null },
      { event_id: `${unpriced}-2`, cost_source: 'reported', cost: '0.100000000' },
    ]);

    const answer = await p.query.inject({ method: 'GET', url: `/api/analytics/agents/${agent}?period=24h` });
    expect(answer.json().data).toMatchObject({ totalSessions: 2, unpricedSessions: 1, unpricedTokens: 150 });
    expect(rawNumber(answer.body, 'totalCost')).toBe('0.60233355');

    // Per model, only the unpriced event's tokens count as unpriced.
    const byModel = await p.query.inject({ method: 'GET', url: `/api/billing/breakdown?by=model&period=24h&format=ndjson` });
    const modelRows = byModel.body.trim().split('\n').map((l) => JSON.parse(l) as { model: string; unpricedTokens: number; inputTokens: number });
    expect(modelRows.find((r) => r.model === 'my-llama-70b')).toMatchObject({ inputTokens: 1100, unpricedTokens: 150 });
    const platform = await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=24h' });
    expect(platform.json().data.unpricedSessions).toBeGreaterThanOrEqual(1);
  });
});
