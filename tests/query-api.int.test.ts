import { afterAll, describe, expect, it } from 'vitest';
import { parseMoney, type EndStatus, type TraceEvent } from '@traceledger/core';
import { applyEvents } from '@traceledger/db';
import { buildQueryApp } from '@traceledger/query';
import { createTestDatabase, headerTenant, testLogger, uid } from './helpers/world.js';

// What a dashboard relies on from the query API, against a small hand-made world whose every
// answer below is computed by hand (the sessions table is the worked example). The world is
// folded through the real path (applyEvents) into a database of this file's own.

const { pool } = await createTestDatabase();
const TENANT = `qa-${uid()}`;
const OTHER = `qa-other-${uid()}`;
const NOW = new Date('2026-03-18T12:00:00Z'); // a Wednesday; 17:30 in Asia/Kolkata

type Use = [model: string | null, input: number, output: number, cost: string | null];
interface SessionSpec {
  id: string;
  agent: string;
  team: string | null;
  start: string;
  uses: Use[];
  /** End status and duration; none = still running. */
  end?: [EndStatus, number];
}

//  id  agent    team  start (UTC)        Kolkata (+05:30)   usage: model in/out cost           end
//  S1  alpha    red   Mon 03-16 09:10    03-16 14:40        m-big 1000/100 0.5,
//                                                           m-small 200/20 0.000000001         success 60 s
//  S2  alpha    red   Mon 03-16 09:40    03-16 15:10        m-big 2000/200 1.25                error 120 s
//  S3  bravo    blue  Mon 03-16 18:50    Tue 03-17 00:20    m-small 300/30 0.1                 success 30 s
//  S4  bravo    -     Tue 03-17 10:00    03-17 15:30        m-small 400/40 0.2,
//                                                           m-unlisted 50/5 unpriced           running
//  S5  charlie  blue  Tue 03-10 12:00    03-10 17:30        m-big 5000/500 3                   timeout 600 s
//  S6  alpha    red   Sat 02-28 20:00    Sun 03-01 01:30    m-big 100/10 0.7                   success 90 s
//  S7  charlie  -     Tue 02-10 08:00    02-10 13:30        m-small 10/1 0.05                  success 10 s
//  S8  alpha    blue  Sat 01-31 20:00    Sun 02-01 01:30    m-small 20/2 0.3                   success 45 s
//  S9  delta    -     Thu 01-15 12:00    01-15 17:30        m-small 60/6 0.3                   success 30 s
// Another tenant has a session that must never show up (agent alpha, team green, cost 100).
const SESSIONS: SessionSpec[] = [
  { id: 's1', agent: 'alpha', team: 'red', start: '2026-03-16T09:10:00Z', uses: [['m-big', 1000, 100, '0.5'], ['m-small', 200, 20, '0.000000001']], end: ['success', 60_000] },
  { id: 's2', agent: 'alpha', team: 'red', start: '2026-03-16T09:40:00Z', uses: [['m-big', 2000, 200, '1.25']], end: ['error', 120_000] },
  { id: 's3', agent: 'bravo', team: 'blue', start: '2026-03-16T18:50:00Z', uses: [['m-small', 300, 30, '0.1']], end: ['success', 30_000] },
  { id: 's4', agent: 'bravo', team: null, start: '2026-03-17T10:00:00Z', uses: [['m-small', 400, 40, '0.2'], ['m-unlisted', 50, 5, null]] },
  { id: 's5', agent: 'charlie', team: 'blue', start: '2026-03-10T12:00:00Z', uses: [['m-big', 5000, 500, '3']], end: ['timeout', 600_000] },
  { id: 's6', agent: 'alpha', team: 'red', start: '2026-02-28T20:00:00Z', uses: [['m-big', 100, 10, '0.7']], end: ['success', 90_000] },
  { id: 's7', agent: 'charlie', team: null, start: '2026-02-10T08:00:00Z', uses: [['m-small', 10, 1, '0.05']], end: ['success', 10_000] },
  { id: 's8', agent: 'alpha', team: 'blue', start: '2026-01-31T20:00:00Z', uses: [['m-small', 20, 2, '0.3']], end: ['success', 45_000] },
  { id: 's9', agent: 'delta', team: null, start: '2026-01-15T12:00:00Z', uses: [['m-small', 60, 6, '0.3']], end: ['success', 30_000] },
];
const FOREIGN: SessionSpec = { id: 'x1', agent: 'alpha', team: 'green', start: '2026-03-16T09:00:00Z', uses: [['m-big', 1, 1, '100']], end: ['success', 1000] };

function sessionEvents(tenantId: string, s: SessionSpec): TraceEvent[] {
  const t0 = Date.parse(s.start);
  const base = { tenantId, sessionId: `${s.id}-${uid(3)}`, agentId: s.agent, teamId: s.team };
  const blank = { provider: null, model: null, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, reasoningTokens: 0, costNanos: null, status: null, error: null, toolName: null, durationMs: null, voidsEventId: null, reason: null };
  const events: TraceEvent[] = [{ ...blank, ...base, eventId: `${base.sessionId}-start`, type: 'session.started', occurredAtMs: t0 }];
  s.uses.forEach(([model, inputTokens, outputTokens, cost], i) => {
    events.push({
      ...blank, ...base, eventId: `${base.sessionId}-u${i}`, type: 'llm.usage', occurredAtMs: t0 + 1000 * (i + 1),
      model, inputTokens, outputTokens, costNanos: cost === null ? null : parseMoney(cost),
    });
  });
  if (s.end) events.push({ ...blank, ...base, eventId: `${base.sessionId}-end`, type: 'session.ended', occurredAtMs: t0 + s.end[1], status: s.end[0] });
  return events;
}

await applyEvents(pool, [...SESSIONS.map((s) => sessionEvents(TENANT, s)), sessionEvents(OTHER, FOREIGN)].flat().map((event) => ({ event })));

const appAt = (now: Date) => buildQueryApp({ pool, logger: testLogger(), auth: headerTenant(), now: () => now });
const app = await appAt(NOW);
afterAll(() => app.close());

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers: { 'x-test-tenant': TENANT, ...headers } });

/** JSON.parse, with money kept as its exact text ("0.500000001"), never a float. */
function parseExact(text: string): any {
  return JSON.parse(text.replace(/"(cost|totalCost|costThisMonth|costLastMonth)":(-?\d+(?:\.\d+)?)/g, '"$1":"$2"'));
}

async function ok(url: string, headers: Record<string, string> = {}) {
  const res = await get(url, headers);
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
  return res;
}
const data = async (url: string) => parseExact((await ok(url)).body).data;

interface Row {
  bucket?: string;
  agent?: string | null;
  team?: string | null;
  model?: string | null;
  status?: string | null;
  sessions: number;
  inputTokens: number;
  outputTokens: number;
  cost: string;
  unpricedTokens: number;
}
/** An expected row; `at` is the bucket start instant (omit for breakdowns). */
const row = (at: string | null, keys: Partial<Record<'agent' | 'team' | 'model' | 'status', string | null>>, sessions: number, inputTokens: number, outputTokens: number, cost: string, unpricedTokens = 0): Row => ({
  ...(at === null ? {} : { bucket: new Date(at).toISOString() }),
  ...keys,
  sessions,
  inputTokens,
  outputTokens,
  cost,
  unpricedTokens,
});

/** Every row of a paginated answer, following nextCursor; checks each page but the last is full. */
async function allPages(url: string, limit: number): Promise<{ rows: Row[]; pages: number }> {
  const rows: Row[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: { rows: Row[]; nextCursor: string | null } = await data(`${url}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    pages++;
    if (page.nextCursor !== null) expect(page.rows, `page ${pages} of ${url}`).toHaveLength(limit);
    expect(page.rows.length, `page ${pages} of ${url}`).toBeLessThanOrEqual(limit);
    rows.push(...page.rows);
    cursor = page.nextCursor;
    expect(pages, 'pagination terminates').toBeLessThan(100);
  } while (cursor !== null);
  return { rows, pages };
}

const cursorOf = (key: unknown): string => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

describe('GET /api/analytics/usage: buckets', () => {
  const range = (from: string, to: string, tz?: string) => `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}${tz ? `&tz=${encodeURIComponent(tz)}` : ''}`;

  it('hour buckets start at the local hour: :00 in UTC, :30 UTC in Asia/Kolkata', async () => {
    const day = range('2026-03-16T00:00:00Z', '2026-03-17T00:00:00Z');
    const utc = await data(`/api/analytics/usage?${day}&bucket=hour`);
    expect(utc).toMatchObject({ bucket: 'hour', groupBy: [], period: 'custom', tz: 'UTC', from: '2026-03-16T00:00:00.000Z', to: '2026-03-17T00:00:00.000Z', nextCursor: null });
    expect(utc.rows).toEqual([
      row('2026-03-16T09:00Z', {}, 2, 3200, 320, '1.750000001'), // S1 + S2 (not the other tenant's 09:00 session)
      row('2026-03-16T18:00Z', {}, 1, 300, 30, '0.1'),
    ]);
    const kolkata = await data(`/api/analytics/usage?${day}&bucket=hour&tz=Asia/Kolkata`);
    expect(kolkata.rows).toEqual([
      row('2026-03-16T08:30Z', {}, 1, 1200, 120, '0.500000001'), // 14:00 local
      row('2026-03-16T09:30Z', {}, 1, 2000, 200, '1.25'), // 15:00 local
      row('2026-03-16T18:30Z', {}, 1, 300, 30, '0.1'), // 00:00 local on the 17th
    ]);
  });

  it('day buckets: local midnights, and dates in from/to are local midnights', async () => {
    const utc = await data(`/api/analytics/usage?${range('2026-03-01', '2026-03-19')}&bucket=day`);
    expect(utc.rows).toEqual([
      row('2026-03-10T00:00Z', {}, 1, 5000, 500, '3'),
      row('2026-03-16T00:00Z', {}, 3, 3500, 350, '1.850000001'),
      row('2026-03-17T00:00Z', {}, 1, 450, 45, '0.2', 55),
    ]);
    const kolkata = await data(`/api/analytics/usage?${range('2026-03-01', '2026-03-19', 'Asia/Kolkata')}&bucket=day`);
    expect(kolkata).toMatchObject({ from: '2026-02-28T18:30:00.000Z', to: '2026-03-18T18:30:00.000Z', tz: 'Asia/Kolkata' });
    expect(kolkata.rows).toEqual([
      row('2026-02-28T18:30Z', {}, 1, 100, 10, '0.7'), // S6 is 1 March in Kolkata
      row('2026-03-09T18:30Z', {}, 1, 5000, 500, '3'),
      row('2026-03-15T18:30Z', {}, 2, 3200, 320, '1.750000001'),
      row('2026-03-16T18:30Z', {}, 2, 750, 75, '0.3', 55), // S3 (00:20 local) and S4
    ]);
    // Across the US spring-forward (8 March): the 10th starts at 04:00Z (EDT), the 8th at 05:00Z (EST).
    const ny = await data(`/api/analytics/usage?${range('2026-03-08', '2026-03-11', 'America/New_York')}&bucket=day`);
    expect(ny).toMatchObject({ from: '2026-03-08T05:00:00.000Z', to: '2026-03-11T04:00:00.000Z' });
    expect(ny.rows).toEqual([row('2026-03-10T04:00Z', {}, 1, 5000, 500, '3')]);
  });

  it('week buckets start on the local Monday', async () => {
    const utc = await data(`/api/analytics/usage?${range('2026-02-01', '2026-03-19')}&bucket=week`);
    expect(utc.rows).toEqual([
      row('2026-02-09T00:00Z', {}, 1, 10, 1, '0.05'),
      row('2026-02-23T00:00Z', {}, 1, 100, 10, '0.7'),
      row('2026-03-09T00:00Z', {}, 1, 5000, 500, '3'),
      row('2026-03-16T00:00Z', {}, 4, 3950, 395, '2.050000001', 55),
    ]);
    const kolkata = await data(`/api/analytics/usage?${range('2026-02-01', '2026-03-19', 'Asia/Kolkata')}&bucket=week`);
    expect(kolkata.rows).toEqual([
      row('2026-01-25T18:30Z', {}, 1, 20, 2, '0.3'), // S8: Sunday 1 Feb local, in the week of Monday 26 Jan
      row('2026-02-08T18:30Z', {}, 1, 10, 1, '0.05'),
      row('2026-02-22T18:30Z', {}, 1, 100, 10, '0.7'),
      row('2026-03-08T18:30Z', {}, 1, 5000, 500, '3'),
      row('2026-03-15T18:30Z', {}, 4, 3950, 395, '2.050000001', 55),
    ]);
  });

  it('month buckets follow local calendar months', async () => {
    const utc = await data(`/api/analytics/usage?${range('2026-01-01', '2026-04-01')}&bucket=month`);
    expect(utc.rows).toEqual([
      row('2026-01-01T00:00Z', {}, 2, 80, 8, '0.6'),
      row('2026-02-01T00:00Z', {}, 2, 110, 11, '0.75'),
      row('2026-03-01T00:00Z', {}, 5, 8950, 895, '5.050000001', 55),
    ]);
    const kolkata = await data(`/api/analytics/usage?${range('2026-01-01', '2026-04-01', 'Asia/Kolkata')}&bucket=month`);
    expect(kolkata.rows).toEqual([
      row('2025-12-31T18:30Z', {}, 1, 60, 6, '0.3'),
      row('2026-01-31T18:30Z', {}, 2, 30, 3, '0.35'),
      row('2026-02-28T18:30Z', {}, 6, 9050, 905, '5.750000001', 55),
    ]);
  });
});

describe('GET /api/analytics/usage: groupBy, filters, top', () => {
  const march = 'from=2026-03-01&to=2026-03-19&bucket=month';
  const m = '2026-03-01T00:00Z';

  it('groups by agent,model with each model’s share of a session', async () => {
    const d = await data(`/api/analytics/usage?${march}&groupBy=agent,model`);
    expect(d.groupBy).toEqual(['agent', 'model']);
    expect(d.rows).toEqual([
      row(m, { agent: 'alpha', model: 'm-big' }, 2, 3000, 300, '1.75'),
      row(m, { agent: 'alpha', model: 'm-small' }, 1, 200, 20, '0.000000001'),
      row(m, { agent: 'bravo', model: 'm-small' }, 2, 700, 70, '0.3'),
      row(m, { agent: 'bravo', model: 'm-unlisted' }, 1, 50, 5, '0', 55),
      row(m, { agent: 'charlie', model: 'm-big' }, 1, 5000, 500, '3'),
    ]);
  });

  it('groups by team,status; sessions without a team are team null, last', async () => {
    const d = await data(`/api/analytics/usage?${march}&groupBy=team,status`);
    expect(d.rows).toEqual([
      row(m, { team: 'blue', status: 'success' }, 1, 300, 30, '0.1'),
      row(m, { team: 'blue', status: 'timeout' }, 1, 5000, 500, '3'),
      row(m, { team: 'red', status: 'error' }, 1, 2000, 200, '1.25'),
      row(m, { team: 'red', status: 'success' }, 1, 1200, 120, '0.500000001'),
      row(m, { team: null, status: 'running' }, 1, 450, 45, '0.2', 55),
    ]);
  });

  it('filters by agent list, team, status, and model (model counts that model’s share only)', async () => {
    const q = 'from=2026-02-01&to=2026-03-19&bucket=month';
    const feb = '2026-02-01T00:00Z';
    expect((await data(`/api/analytics/usage?${q}&agent=alpha,charlie`)).rows).toEqual([
      row(feb, {}, 2, 110, 11, '0.75'),
      row(m, {}, 3, 8200, 820, '4.750000001'),
    ]);
    expect((await data(`/api/analytics/usage?${q}&team=blue`)).rows).toEqual([row(m, {}, 2, 5300, 530, '3.1')]);
    expect((await data(`/api/analytics/usage?${q}&status=error,timeout`)).rows).toEqual([row(m, {}, 2, 7000, 700, '4.25')]);
    // S1's m-big half (0.000000001 of m-small left out), S3, S4 without its unpriced m-unlisted usage.
    expect((await data(`/api/analytics/usage?${q}&model=m-small`)).rows).toEqual([
      row(feb, {}, 1, 10, 1, '0.05'),
      row(m, {}, 3, 900, 90, '0.300000001'),
    ]);
    expect((await data(`/api/analytics/usage?${q}&model=m-big&status=success`)).rows).toEqual([
      row(feb, {}, 1, 100, 10, '0.7'),
      row(m, {}, 1, 1000, 100, '0.5'),
    ]);
    expect((await data(`/api/analytics/usage?${q}&agent=bravo&groupBy=model`)).rows).toEqual([
      row(m, { model: 'm-small' }, 2, 700, 70, '0.3'),
      row(m, { model: 'm-unlisted' }, 1, 50, 5, '0', 55),
    ]);
  });

  it('top=N keeps the N groups with the highest cost over the whole range', async () => {
    const q = 'from=2026-01-01&to=2026-04-01&bucket=month';
    // Agent costs over the range: charlie 3.05, alpha 2.750000001, bravo 0.3, delta 0.3.
    expect((await data(`/api/analytics/usage?${q}&groupBy=agent&top=2`)).rows).toEqual([
      row('2026-01-01T00:00Z', { agent: 'alpha' }, 1, 20, 2, '0.3'),
      row('2026-02-01T00:00Z', { agent: 'alpha' }, 1, 100, 10, '0.7'),
      row('2026-02-01T00:00Z', { agent: 'charlie' }, 1, 10, 1, '0.05'),
      row('2026-03-01T00:00Z', { agent: 'alpha' }, 2, 3200, 320, '1.750000001'),
      row('2026-03-01T00:00Z', { agent: 'charlie' }, 1, 5000, 500, '3'),
    ]);
    // A tie at the cut (bravo = delta = 0.3) is broken by key.
    const top3 = await data(`/api/analytics/usage?${q}&groupBy=agent&top=3`);
    expect(new Set(top3.rows.map((r: Row) => r.agent))).toEqual(new Set(['alpha', 'bravo', 'charlie']));
    // By model: m-big 5.45 beats m-small 0.950000001.
    expect((await data(`/api/analytics/usage?${q}&groupBy=model&top=1`)).rows).toEqual([
      row('2026-02-01T00:00Z', { model: 'm-big' }, 1, 100, 10, '0.7'),
      row('2026-03-01T00:00Z', { model: 'm-big' }, 3, 8000, 800, '4.75'),
    ]);
  });
});

// Every (day, agent, model) row from 1 January to 1 April, in answer order.
const DAY_AGENT_MODEL = '/api/analytics/usage?from=2026-01-01&to=2026-04-01&bucket=day&groupBy=agent,model';
const DAY_AGENT_MODEL_ROWS = [
  row('2026-01-15T00:00Z', { agent: 'delta', model: 'm-small' }, 1, 60, 6, '0.3'),
  row('2026-01-31T00:00Z', { agent: 'alpha', model: 'm-small' }, 1, 20, 2, '0.3'),
  row('2026-02-10T00:00Z', { agent: 'charlie', model: 'm-small' }, 1, 10, 1, '0.05'),
  row('2026-02-28T00:00Z', { agent: 'alpha', model: 'm-big' }, 1, 100, 10, '0.7'),
  row('2026-03-10T00:00Z', { agent: 'charlie', model: 'm-big' }, 1, 5000, 500, '3'),
  row('2026-03-16T00:00Z', { agent: 'alpha', model: 'm-big' }, 2, 3000, 300, '1.75'),
  row('2026-03-16T00:00Z', { agent: 'alpha', model: 'm-small' }, 1, 200, 20, '0.000000001'),
  row('2026-03-16T00:00Z', { agent: 'bravo', model: 'm-small' }, 1, 300, 30, '0.1'),
  row('2026-03-17T00:00Z', { agent: 'bravo', model: 'm-small' }, 1, 400, 40, '0.2'),
  row('2026-03-17T00:00Z', { agent: 'bravo', model: 'm-unlisted' }, 1, 50, 5, '0', 55),
];
const MONTH_TEAM = '/api/analytics/usage?from=2026-01-01&to=2026-04-01&bucket=month&groupBy=team';
const MONTH_TEAM_ROWS = [
  row('2026-01-01T00:00Z', { team: 'blue' }, 1, 20, 2, '0.3'),
  row('2026-01-01T00:00Z', { team: null }, 1, 60, 6, '0.3'),
  row('2026-02-01T00:00Z', { team: 'red' }, 1, 100, 10, '0.7'),
  row('2026-02-01T00:00Z', { team: null }, 1, 10, 1, '0.05'),
  row('2026-03-01T00:00Z', { team: 'blue' }, 2, 5300, 530, '3.1'),
  row('2026-03-01T00:00Z', { team: 'red' }, 2, 3200, 320, '1.750000001'),
  row('2026-03-01T00:00Z', { team: null }, 1, 450, 45, '0.2', 55),
];

describe('GET /api/analytics/usage: pagination', () => {
  it('returns every row exactly once, in order, whatever the page size; the last page has nextCursor null', async () => {
    expect((await data(DAY_AGENT_MODEL)).rows).toEqual(DAY_AGENT_MODEL_ROWS);
    for (const limit of [1, 3, 5, 10, 11]) {
      const { rows, pages } = await allPages(DAY_AGENT_MODEL, limit);
      expect(rows, `limit=${limit}`).toEqual(DAY_AGENT_MODEL_ROWS);
      expect(pages, `limit=${limit}`).toBe(Math.max(1, Math.ceil(DAY_AGENT_MODEL_ROWS.length / limit)));
    }
    // Null keys (no team) inside a bucket, on both sides of a page boundary.
    expect((await data(MONTH_TEAM)).rows).toEqual(MONTH_TEAM_ROWS);
    for (const limit of [1, 2]) expect((await allPages(MONTH_TEAM, limit)).rows, `limit=${limit}`).toEqual(MONTH_TEAM_ROWS);
  });

  it('rejects a tampered cursor with 400 TL_QUERY_BAD_CURSOR', async () => {
    const first = await data(`${DAY_AGENT_MODEL}&limit=2`);
    const good: string = first.nextCursor;
    const tampered = [
      `${good.slice(0, 5)}${good.slice(5, 6) === 'A' ? 'B' : 'A'}${good.slice(6)}`, // one character changed
      'not-a-cursor',
      cursorOf(['2026-03-16T00:00:00.000Z', 'alpha']), // wrong length (a cursor of another groupBy)
      cursorOf(['yesterday', 'alpha', 'm-big']), // right shape, the bucket is not a time (Postgres would read it as one)
      cursorOf(['garbage', 'alpha', 'm-big']),
      cursorOf([null, 'alpha', 'm-big']),
    ];
    for (const cursor of tampered) {
      const res = await get(`${DAY_AGENT_MODEL}&limit=2&cursor=${encodeURIComponent(cursor)}`);
      expect(res.statusCode, `cursor ${cursor}: ${res.body}`).toBe(400);
      expect(res.json(), `cursor ${cursor}`).toMatchObject({ code: 'TL_QUERY_BAD_CURSOR', message: expect.stringContaining('cursor') });
    }
    // A breakdown's cursor starts with a cost.
    for (const key of [['lots', 'alpha'], [null, 'alpha'], ['2026-03-16T00:00:00.000Z', 'alpha'], ['0.3']]) {
      const res = await get(`/api/billing/breakdown?by=agent&limit=1&cursor=${cursorOf(key)}`);
      expect(res.statusCode, `${JSON.stringify(key)}: ${res.body}`).toBe(400);
      expect(res.json().code).toBe('TL_QUERY_BAD_CURSOR');
    }
  });
});

const BY_TEAM = [
  row(null, { team: 'blue' }, 3, 5320, 532, '3.4'),
  row(null, { team: 'red' }, 3, 3300, 330, '2.450000001'),
  row(null, { team: null }, 3, 520, 52, '0.55', 55),
];
const BY_AGENT = [
  row(null, { agent: 'charlie' }, 2, 5010, 501, '3.05'),
  row(null, { agent: 'alpha' }, 4, 3320, 332, '2.750000001'),
  row(null, { agent: 'bravo' }, 2, 750, 75, '0.3', 55), // ties with delta on cost: key order
  row(null, { agent: 'delta' }, 1, 60, 6, '0.3'),
];
const BY_MODEL = [
  row(null, { model: 'm-big' }, 4, 8100, 810, '5.45'),
  row(null, { model: 'm-small' }, 6, 990, 99, '0.950000001'),
  row(null, { model: 'm-unlisted' }, 1, 50, 5, '0', 55),
];

describe('GET /api/billing/breakdown', () => {
  it('orders by cost descending then key, with team null for sessions without a team', async () => {
    const team = await data('/api/billing/breakdown?by=team');
    expect(team).toMatchObject({ by: 'team', period: 'all', from: null, to: null, tz: 'UTC', nextCursor: null });
    expect(team.rows).toEqual(BY_TEAM);
    expect((await data('/api/billing/breakdown?by=agent')).rows).toEqual(BY_AGENT);
    expect((await data('/api/billing/breakdown?by=model')).rows).toEqual(BY_MODEL);
  });

  it('paginates with limit and nextCursor, cost ties across a page boundary included', async () => {
    for (const limit of [1, 2, 3]) {
      expect((await allPages('/api/billing/breakdown?by=agent', limit)).rows, `by=agent limit=${limit}`).toEqual(BY_AGENT);
      expect((await allPages('/api/billing/breakdown?by=team', limit)).rows, `by=team limit=${limit}`).toEqual(BY_TEAM);
    }
  });

  it('adds up to the billing summary, over all time and over a local range', async () => {
    const sum = (rows: Row[]) => rows.reduce((n, r) => n + parseMoney(r.cost), 0n);
    const summary = parseExact((await ok('/api/billing/summary')).body);
    expect(summary.totalCost).toBe('6.400000001');
    for (const rows of [BY_TEAM, BY_AGENT, BY_MODEL]) expect(sum(rows)).toBe(parseMoney(summary.totalCost));

    const local = 'from=2026-03-01&to=2026-04-01&tz=Asia/Kolkata';
    const byTeam = await data(`/api/billing/breakdown?by=team&${local}`);
    expect(byTeam).toMatchObject({ period: 'custom', from: '2026-02-28T18:30:00.000Z', to: '2026-03-31T18:30:00.000Z', tz: 'Asia/Kolkata' });
    expect(byTeam.rows).toEqual([
      row(null, { team: 'blue' }, 2, 5300, 530, '3.1'),
      row(null, { team: 'red' }, 3, 3300, 330, '2.450000001'),
      row(null, { team: null }, 1, 450, 45, '0.2', 55),
    ]);
    const localSummary = parseExact((await ok(`/api/billing/summary?${local}`)).body);
    expect(localSummary.totalCost).toBe('5.750000001');
    for (const by of ['team', 'agent', 'model']) {
      expect(sum((await data(`/api/billing/breakdown?by=${by}&${local}`)).rows), by).toBe(parseMoney(localSummary.totalCost));
    }
  });
});

describe('exports', () => {
  const CSV_HEAD = 'bucket,agent,model,sessions,inputTokens,outputTokens,cost,unpricedTokens';
  const csvLine = (r: Row, keys: (keyof Row)[]) => keys.map((k) => (r[k] === null || r[k] === undefined ? '' : String(r[k]))).join(',');

  it('format=csv and Accept: text/csv give a header and one line per row, with exact decimal costs', async () => {
    const expected = [CSV_HEAD, ...DAY_AGENT_MODEL_ROWS.map((r) => csvLine(r, ['bucket', 'agent', 'model', 'sessions', 'inputTokens', 'outputTokens', 'cost', 'unpricedTokens']))].join('\n') + '\n';
    expect(expected).toContain('2026-03-16T00:00:00.000Z,alpha,m-small,1,200,20,0.000000001,0\n');
    for (const [qs, headers] of [['&format=csv', {}], ['', { accept: 'text/csv' }]] as const) {
      const res = await ok(`${DAY_AGENT_MODEL}${qs}`, headers);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.body).toBe(expected);
    }
    const team = await ok('/api/billing/breakdown?by=team&format=csv');
    expect(team.body).toBe('team,sessions,inputTokens,outputTokens,cost,unpricedTokens\nblue,3,5320,532,3.4,0\nred,3,3300,330,2.450000001,0\n,3,520,52,0.55,55\n');
  });

  it('format=ndjson and Accept: application/x-ndjson give one JSON object per line; format= wins over Accept', async () => {
    for (const [qs, headers] of [['&format=ndjson', {}], ['', { accept: 'application/x-ndjson' }]] as const) {
      const res = await ok(`${DAY_AGENT_MODEL}${qs}`, headers);
      expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
      expect(res.body.endsWith('\n')).toBe(true);
      expect(res.body.slice(0, -1).split('\n').map(parseExact)).toEqual(DAY_AGENT_MODEL_ROWS);
    }
    const json = await ok(`${DAY_AGENT_MODEL}&format=json`, { accept: 'text/csv' });
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(parseExact(json.body).data.rows).toEqual(DAY_AGENT_MODEL_ROWS);
  });

  it('an export is every page: it equals the concatenation of all JSON pages, whatever limit says', async () => {
    const queries = [
      [DAY_AGENT_MODEL, ['bucket', 'agent', 'model']],
      [MONTH_TEAM, ['bucket', 'team']],
      ['/api/analytics/usage?from=2026-03-01&to=2026-03-19&bucket=month&groupBy=team,status', ['bucket', 'team', 'status']],
      ['/api/billing/breakdown?by=agent', ['agent']],
      ['/api/billing/breakdown?by=team', ['team']],
      ['/api/billing/breakdown?by=model&from=2026-03-01&to=2026-04-01&tz=Asia/Kolkata', ['model']],
    ] as const;
    for (const [url, keys] of queries) {
      const { rows } = await allPages(url, 2);
      expect(rows.length, url).toBeGreaterThan(0);
      // limit=1 on an export does not cut it to one row: exports stream every page.
      const nd = await ok(`${url}&format=ndjson&limit=1`);
      expect(nd.body.slice(0, -1).split('\n').map(parseExact), url).toEqual(rows);
      const columns = [...keys, 'sessions', 'inputTokens', 'outputTokens', 'cost', 'unpricedTokens'] as (keyof Row)[];
      const csv = await ok(`${url}&format=csv&limit=1`);
      expect(csv.body, url).toBe([columns.join(','), ...rows.map((r) => csvLine(r, columns))].join('\n') + '\n');
    }
  });
});

describe('GET /api/billing/summary', () => {
  it('costThisMonth/costLastMonth are calendar months in tz around the pinned now', async () => {
    expect(parseExact((await ok('/api/billing/summary')).body)).toEqual({
      totalCost: '6.400000001',
      totalTokens: 10054,
      activeAgents: 3, // alpha, bravo, charlie started a session in March; delta did not
      costThisMonth: '5.050000001',
      costLastMonth: '0.75',
      range: { period: 'all', from: null, to: null, tz: 'UTC' },
    });
    // In Kolkata S6 is in March and S8 in February.
    expect(parseExact((await ok('/api/billing/summary?tz=Asia/Kolkata')).body)).toMatchObject({
      totalCost: '6.400000001', activeAgents: 3, costThisMonth: '5.750000001', costLastMonth: '0.35',
    });
    // At 21:00Z on 28 February it is still February in UTC but already March in Kolkata.
    const early = await appAt(new Date('2026-02-28T21:00:00Z'));
    try {
      const at = async (url: string) => {
        const res = await early.inject({ method: 'GET', url, headers: { 'x-test-tenant': TENANT } });
        expect(res.statusCode, res.body).toBe(200);
        return parseExact(res.body);
      };
      expect(await at('/api/billing/summary')).toMatchObject({ costThisMonth: '0.75', costLastMonth: '0.6', activeAgents: 2 });
      expect(await at('/api/billing/summary?tz=Asia/Kolkata')).toMatchObject({ costThisMonth: '5.750000001', costLastMonth: '0.35', activeAgents: 3 });
    } finally {
      await early.close();
    }
  });

  it('from/to/tz select the totals and activeAgents; the months stay calendar months', async () => {
    expect(parseExact((await ok('/api/billing/summary?from=2026-01-01&to=2026-02-01')).body)).toEqual({
      totalCost: '0.6',
      totalTokens: 88,
      activeAgents: 2, // S8 alpha (31 Jan 20:00Z), S9 delta
      costThisMonth: '5.050000001',
      costLastMonth: '0.75',
      range: { period: 'custom', from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z', tz: 'UTC' },
    });
    expect(parseExact((await ok('/api/billing/summary?from=2026-01-01&to=2026-02-01&tz=Asia/Kolkata')).body)).toEqual({
      totalCost: '0.3',
      totalTokens: 66,
      activeAgents: 1, // S8 is 1 February in Kolkata
      costThisMonth: '5.750000001',
      costLastMonth: '0.35',
      range: { period: 'custom', from: '2025-12-31T18:30:00.000Z', to: '2026-01-31T18:30:00.000Z', tz: 'Asia/Kolkata' },
    });
    expect(parseExact((await ok('/api/billing/summary?period=mtd')).body)).toMatchObject({
      totalCost: '5.050000001', totalTokens: 9845, activeAgents: 3, range: { period: 'mtd', from: '2026-03-01T00:00:00.000Z', to: '2026-03-18T12:00:00.001Z' },
    });
  });
});

describe('GET /api/analytics/agents/:id and /teams/:id', () => {
  const none = { running: 0, success: 0, error: 0, timeout: 0, cancelled: 0 };

  it('totals and duration avg/p50/p95/p99 (percentile_cont over ended sessions)', async () => {
    // alpha's ended durations: 45 s, 60 s, 90 s, 120 s.
    expect(await data('/api/analytics/agents/alpha?period=all')).toEqual({
      agentId: 'alpha', period: 'all', from: null, to: null, tz: 'UTC',
      totalSessions: 4, statusCounts: { ...none, success: 3, error: 1 },
      totalInputTokens: 3320, totalOutputTokens: 332, totalCost: '2.750000001', unpricedSessions: 0, unpricedTokens: 0,
      duration: { avgMs: 78_750, p50Ms: 75_000, p95Ms: 115_500, p99Ms: 119_100 },
    });
    // bravo: one running session (no duration), one of 30 s.
    expect(await data('/api/analytics/agents/bravo?period=all')).toMatchObject({
      totalSessions: 2, statusCounts: { ...none, running: 1, success: 1 }, totalCost: '0.3', unpricedSessions: 1, unpricedTokens: 55,
      duration: { avgMs: 30_000, p50Ms: 30_000, p95Ms: 30_000, p99Ms: 30_000 },
    });
    // blue: 30 s, 45 s, 600 s.
    expect(await data('/api/analytics/teams/blue?period=all')).toMatchObject({
      teamId: 'blue', totalSessions: 3, statusCounts: { ...none, success: 2, timeout: 1 }, totalInputTokens: 5320, totalCost: '3.4',
      duration: { avgMs: 225_000, p50Ms: 45_000, p95Ms: 544_500, p99Ms: 588_900 },
    });
  });

  it('period=mtd starts at the first of the month in tz', async () => {
    const mtd = { avgMs: 90_000, p50Ms: 90_000, p95Ms: 117_000, p99Ms: 119_400 };
    expect(await data('/api/analytics/agents/alpha?period=mtd')).toMatchObject({
      period: 'mtd', from: '2026-03-01T00:00:00.000Z', to: '2026-03-18T12:00:00.001Z',
      totalSessions: 2, statusCounts: { ...none, success: 1, error: 1 }, totalCost: '1.750000001', duration: mtd,
    });
    expect(await data('/api/analytics/agents/alpha?period=mtd&tz=Asia/Kolkata')).toMatchObject({
      from: '2026-02-28T18:30:00.000Z', totalSessions: 3, statusCounts: { ...none, success: 2, error: 1 }, totalCost: '2.450000001', duration: mtd,
    });
    expect(await data('/api/analytics/teams/red?period=mtd')).toMatchObject({ totalSessions: 2, totalCost: '1.750000001', duration: mtd });
    // Known agent, nothing this month: zeros and null durations, not 404.
    expect(await data('/api/analytics/agents/delta?period=mtd')).toMatchObject({
      totalSessions: 0, statusCounts: none, totalCost: '0', duration: { avgMs: null, p50Ms: null, p95Ms: null, p99Ms: null },
    });
  });

  it('404 for an agent or team with no sessions (in this tenant)', async () => {
    for (const [url, code, id] of [
      ['/api/analytics/agents/nobody', 'TL_QUERY_AGENT_NOT_FOUND', 'nobody'],
      ['/api/analytics/teams/nobody', 'TL_QUERY_TEAM_NOT_FOUND', 'nobody'],
      ['/api/analytics/teams/green', 'TL_QUERY_TEAM_NOT_FOUND', 'green'], // only the other tenant has it
      ['/api/analytics/agents/nobody/token-trends', 'TL_QUERY_AGENT_NOT_FOUND', 'nobody'],
    ] as const) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json(), url).toMatchObject({ statusCode: 404, code, message: expect.stringContaining(`"${id}"`) });
    }
  });
});

describe('GET /api/analytics/agents/:id/token-trends', () => {
  const day = (date: string, sessions = 0, inputTokens = 0, outputTokens = 0, cost = '0') => ({ date, sessions, inputTokens, outputTokens, totalTokens: inputTokens + outputTokens, cost });

  it('gives N rows of local dates ending today, empty days included', async () => {
    expect(await data('/api/analytics/agents/bravo/token-trends?days=3')).toEqual({
      agentId: 'bravo', days: 3, tz: 'UTC',
      trends: [day('2026-03-16', 1, 300, 30, '0.1'), day('2026-03-17', 1, 450, 45, '0.2'), day('2026-03-18')],
    });
    // In Kolkata both of bravo's sessions are on the 17th.
    expect((await data('/api/analytics/agents/bravo/token-trends?days=3&tz=Asia/Kolkata')).trends).toEqual([
      day('2026-03-16'), day('2026-03-17', 2, 750, 75, '0.3'), day('2026-03-18'),
    ]);
    const eight = await data('/api/analytics/agents/alpha/token-trends?days=8');
    expect(eight.trends.map((d: { date: string }) => d.date)).toEqual(['11', '12', '13', '14', '15', '16', '17', '18'].map((d) => `2026-03-${d}`));
    expect(eight.trends.filter((d: { sessions: number }) => d.sessions > 0)).toEqual([day('2026-03-16', 2, 3200, 320, '1.750000001')]);
    expect((await data('/api/analytics/agents/alpha/token-trends')).trends).toHaveLength(7);
  });
});

describe('bad queries', () => {
  it('each get 400 with a code and a message naming the parameter and what is allowed', async () => {
    const cases: [url: string, code: string, mentions: string[]][] = [
      ['/api/analytics/usage?period=2w', 'TL_QUERY_BAD_PERIOD', ['period', '24h, 7d, 30d, 90d, mtd, all']],
      ['/api/billing/summary?period=2w', 'TL_QUERY_BAD_PERIOD', ['period', 'mtd']],
      ['/api/analytics/agents/alpha?period=forever', 'TL_QUERY_BAD_PERIOD', ['period', 'all']],
      ['/api/analytics/usage?from=2026-03-10&to=2026-03-01', 'TL_QUERY_BAD_RANGE', ['from', 'before', 'to']],
      ['/api/billing/summary?from=2026-03-10T00:00:00Z&to=2026-03-10T00:00:00Z', 'TL_QUERY_BAD_RANGE', ['from', 'to']],
      ['/api/analytics/usage?period=7d&from=2026-03-01', 'TL_QUERY_BAD_RANGE', ['period', 'from/to']],
      ['/api/billing/breakdown?by=team&period=7d&to=2026-03-01', 'TL_QUERY_BAD_RANGE', ['period', 'from/to']],
      ['/api/analytics/usage?from=2026-02-30', 'TL_QUERY_BAD_RANGE', ['from', '2026-02-30']],
      ['/api/analytics/usage?bucket=hour&period=90d', 'TL_QUERY_RANGE_TOO_LARGE', ['hour', '1000']],
      ['/api/analytics/usage?bucket=day&from=2020-01-01&to=2026-01-01', 'TL_QUERY_RANGE_TOO_LARGE', ['day', '1000']],
      ['/api/analytics/usage?period=all', 'TL_QUERY_RANGE_TOO_LARGE', ['from']],
      ['/api/analytics/usage?tz=Mars/Olympus_Mons', 'TL_QUERY_BAD_TZ', ['tz', 'Mars/Olympus_Mons', 'IANA']],
      ['/api/billing/summary?tz=IST', 'TL_QUERY_BAD_TZ', ['tz', 'IST']],
      ['/api/analytics/agents/alpha/token-trends?tz=Nowhere/City', 'TL_QUERY_BAD_TZ', ['tz']],
      ['/api/analytics/usage?groupBy=agent,region', 'TL_QUERY_BAD_GROUP_BY', ['groupBy', 'region', 'agent, team, model, status']],
      ['/api/analytics/usage?groupBy=agent,agent', 'TL_QUERY_BAD_GROUP_BY', ['groupBy', 'twice']],
      ['/api/analytics/usage?bucket=minute', 'TL_QUERY_BAD_BUCKET', ['bucket', 'hour, day, week, month']],
      ['/api/analytics/usage?format=xml', 'TL_QUERY_BAD_FORMAT', ['format', 'json, csv, ndjson']],
      ['/api/billing/breakdown?by=team&format=xlsx', 'TL_QUERY_BAD_FORMAT', ['format', 'csv']],
      ['/api/billing/breakdown?by=status', 'TL_QUERY_BAD_BY', ['by', 'team, agent, model']],
      ['/api/billing/breakdown?by=', 'TL_QUERY_BAD_BY', ['by', 'team, agent, model']],
      ['/api/analytics/usage?groupBy=agent&top=0', 'TL_QUERY_BAD_TOP', ['top', '1', '1000']],
      ['/api/analytics/usage?limit=10001', 'TL_QUERY_BAD_LIMIT', ['limit', '10000']],
      ['/api/analytics/agents/alpha/token-trends?days=367', 'TL_QUERY_BAD_DAYS', ['days', '366']],
    ];
    // A missing `by` names the parameter, under the generic code of a missing required parameter.
    const missing = await get('/api/billing/breakdown');
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: 'TL_QUERY_BAD_BY', message: 'querystring/by is required' });
    for (const [url, code, mentions] of cases) {
      const res = await get(url);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      const body = res.json();
      expect(body, url).toMatchObject({ statusCode: 400, error: 'Bad Request', code });
      for (const m of mentions) expect(body.message, `${url}: message names ${m}`).toContain(m);
    }
  });
});

describe('OpenAPI', () => {
  it('GET /docs/json is an OpenAPI 3 document of every /api path and its query parameters', async () => {
    const res = await ok('/docs/json');
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const range = ['period', 'from', 'to', 'tz'];
    const expected: Record<string, string[]> = {
      '/api/billing/summary': range,
      '/api/billing/breakdown': ['by', ...range, 'limit', 'cursor', 'format'],
      '/api/analytics/platform': range,
      '/api/analytics/usage': [...range, 'bucket', 'groupBy', 'agent', 'team', 'model', 'status', 'top', 'limit', 'cursor', 'format'],
      '/api/analytics/agents/{id}': range,
      '/api/analytics/teams/{id}': range,
      '/api/analytics/agents/{id}/token-trends': ['days', 'tz'],
    };
    // The old platform path stays served but undocumented.
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/api/')).sort()).toEqual(Object.keys(expected).sort());
    for (const [path, params] of Object.entries(expected)) {
      const op = doc.paths[path]?.get;
      expect(op, path).toBeDefined();
      const query = (op.parameters as { in: string; name: string; required?: boolean }[]).filter((p) => p.in === 'query');
      expect(query.map((p) => p.name).sort(), path).toEqual([...params].sort());
      if (path.includes('{id}')) expect(op.parameters.some((p: { in: string; name: string }) => p.in === 'path' && p.name === 'id'), path).toBe(true);
      expect(Object.keys(op.responses), path).toEqual(expect.arrayContaining(['200', '400']));
    }
    expect(doc.paths['/api/billing/breakdown'].get.parameters.find((p: { name: string }) => p.name === 'by')).toMatchObject({ required: true });
  });

  it('GET /docs answers with the HTML page (directly or by a redirect)', async () => {
    let res = await get('/docs');
    if (res.statusCode >= 300 && res.statusCode < 400) res = await get(new URL(String(res.headers.location), 'http://x/docs').pathname);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});
