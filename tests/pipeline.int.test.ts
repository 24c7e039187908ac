import { describe, expect, it } from 'vitest';
import { normaliseDecimalText } from '@traceledger/core';
import { sampleSessions, shuffled } from '../scripts/sample-events.js';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { waitFor } from './helpers/world.js';

// One pipeline (real broker, real Postgres, own topic and database) for the whole file.
const p = await startPipeline();

async function postEvents(events: unknown[]) {
  return p.ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
}

async function tableTotals() {
  const { rows } = await p.pool.query<{ sessions: string; cost: string | null; input: string | null; output: string | null; events: string | null }>(
    `SELECT count(*)::text AS sessions, sum(cost)::text AS cost, sum(input_tokens)::text AS input,
            sum(output_tokens)::text AS output, sum(event_count)::text AS events FROM trace_sessions`,
  );
  const r = rows[0];
  if (!r) throw new Error('no row');
  return { sessions: Number(r.sessions), cost: normaliseDecimalText(r.cost), input: r.input ?? '0', output: r.output ?? '0', events: Number(r.events ?? 0) };
}

describe('events posted to ingest are folded into trace_sessions exactly once', () => {
  const sample = sampleSessions(40);

  it('folds shuffled events posted in several batches, and billing and analytics equal the SQL sum and the hand-computed totals', async () => {
    const events = shuffled(sample.events);
    const third = Math.ceil(events.length / 3);
    for (let i = 0; i < events.length; i += third) {
      const res = await postEvents(events.slice(i, i + third));
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toMatchObject({ accepted: Math.min(third, events.length - i), rejected: 0 });
    }
    await waitFor(async () => (await tableTotals()).events === sample.events.length, { what: 'all events folded' });
    await p.drained();

    const table = await tableTotals();
    expect(table.sessions).toBe(sample.expected.sessions);
    expect(table.cost).toBe(sample.expected.cost);
    expect(table.input).toBe(String(sample.expected.inputTokens));
    expect(table.output).toBe(String(sample.expected.outputTokens));

    const billing = await p.query.inject({ method: 'GET', url: '/api/billing/summary' });
    expect(billing.statusCode).toBe(200);
    const analytics = await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=all' });
    expect(analytics.statusCode).toBe(200);
    const legacyPath = await p.query.inject({ method: 'GET', url: '/api/agent-portal/analytics/platform?period=all' });
    expect(legacyPath.body).toBe(analytics.body);

    // Exact to the last digit: compare the JSON number text, not a parsed float.
    expect(rawNumber(billing.body, 'totalCost')).toBe(sample.expected.cost);
    expect(rawNumber(analytics.body, 'totalCost')).toBe(sample.expected.cost);
    expect(rawNumber(billing.body, 'totalTokens')).toBe(String(sample.expected.inputTokens + sample.expected.outputTokens));
    expect(analytics.json().data).toMatchObject({
      period: 'all',
      totalSessions: sample.expected.sessions,
      successCount: sample.expected.success,
      errorCount: sample.expected.error,
      totalInputTokens: Number(sample.expected.inputTokens),
      totalOutputTokens: Number(sample.expected.outputTokens),
    });
    expect(Number(rawNumber(billing.body, 'totalCost'))).toBeGreaterThan(0);
  });

  it('changes nothing when the same batch is posted again', async () => {
    const before = await tableTotals();
    const { rows: rowsBefore } = await p.pool.query('SELECT * FROM trace_sessions ORDER BY session_id');
    const res = await postEvents(sample.events.slice(0, 50));
    expect(res.statusCode).toBe(202);
    const again = await postEvents(sample.events.slice(0, 50));
    expect(again.statusCode).toBe(202);
    await p.drained();
    expect(await tableTotals()).toEqual(before);
    const { rows: rowsAfter } = await p.pool.query('SELECT * FROM trace_sessions ORDER BY session_id');
    expect(rowsAfter.map(({ updated_at: _u, ...r }) => r)).toEqual(rowsBefore.map(({ updated_at: _u, ...r }) => r));
  });

  it('answers per agent, per team and per day from the same rows', async () => {
    const agent = sample.agents[0] as string;
    const res = await p.query.inject({ method: 'GET', url: `/api/analytics/agents/${agent}?period=all` });
    expect(res.statusCode).toBe(200);
    const { rows } = await p.pool.query<{ cost: string; n: string }>(
      'SELECT sum(cost)::text AS cost, count(*)::text AS n FROM trace_sessions WHERE agent_id = $1',
      [agent],
    );
    expect(rawNumber(res.body, 'totalCost')).toBe(normaliseDecimalText(rows[0]?.cost ?? null));
    expect(res.json().data.totalSessions).toBe(Number(rows[0]?.n));
    expect(res.json().data.duration.p50Ms).toBeGreaterThan(0);

    const trends = await p.query.inject({ method: 'GET', url: `/api/analytics/agents/${agent}/token-trends?days=7` });
    expect(trends.statusCode).toBe(200);
    const days: { date: string; cost: number; sessions: number }[] = trends.json().data.trends;
    expect(days).toHaveLength(7);
    expect(days.reduce((n, d) => n + d.sessions, 0)).toBe(Number(rows[0]?.n));

    const unknown = await p.query.inject({ method: 'GET', url: `/api/analytics/agents/nobody-${Date.now()}` });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('TL_QUERY_AGENT_NOT_FOUND');
  });
});

describe('the legacy summary endpoint', () => {
  it('turns one session summary into events, and the same summary posted twice counts once', async () => {
    const before = await tableTotals();
    const summary = {
      sessionId: `legacy-${Date.now()}`,
      agentId: 'legacy-agent',
      teamId: 'legacy-team',
      startedAt: new Date(Date.now() - 120_000).toISOString(),
      durationMs: 45_000,
      status: 'success',
      inputTokens: 1000,
      outputTokens: 250,
      cost: 3.83,
      model: 'gpt-4o',
    };
    for (let i = 0; i < 2; i++) {
      const res = await p.ingest.inject({ method: 'POST', url: '/api/billing/ingest', payload: summary });
      expect(res.statusCode, res.body).toBe(202);
    }
    await p.drained();
    const { rows } = await p.pool.query('SELECT status, duration_ms::int AS d, cost::text, input_tokens::int AS i FROM trace_sessions WHERE session_id = $1', [summary.sessionId]);
    expect(rows).toEqual([{ status: 'success', d: 45_000, cost: '3.830000000', i: 1000 }]);
    const after = await tableTotals();
    expect(after.sessions).toBe(before.sessions + 1);
  });

  it('rejects a summary with a bad status, naming the field', async () => {
    const res = await p.ingest.inject({
      method: 'POST',
      url: '/api/billing/ingest',
      payload: { sessionId: 's', agentId: 'a', startedAt: new Date().toISOString(), status: 'finished', inputTokens: 1, outputTokens: 1 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TL_EVENT_BAD_STATUS', field: 'status' });
  });
});

describe('bad queries', () => {
  it('get a 400 naming the parameter and what is allowed', async () => {
    const period = await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=13d' });
    expect(period.statusCode).toBe(400);
    expect(period.json()).toMatchObject({ code: 'TL_QUERY_BAD_PERIOD', message: expect.stringContaining('period must be one of 24h, 7d, 30d, 90d, mtd, all') });
    const days = await p.query.inject({ method: 'GET', url: '/api/analytics/agents/x/token-trends?days=0' });
    expect(days.statusCode).toBe(400);
    expect(days.json()).toMatchObject({ code: 'TL_QUERY_BAD_DAYS', message: expect.stringContaining('days') });
    const route = await p.query.inject({ method: 'GET', url: '/api/nothing-here' });
    expect(route.statusCode).toBe(404);
    expect(route.json().code).toBe('TL_QUERY_NOT_FOUND');
  });
});
