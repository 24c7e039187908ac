import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, inject, it } from 'vitest';
import { DEFAULT_TENANT, formatMoney, parseMoney } from '@traceledger/core';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { uid, waitFor } from './helpers/world.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const p = await startPipeline();
const dbUrl = (p.pool as unknown as { options: { connectionString: string } }).options.connectionString;
const env = { ...process.env, DATABASE_URL: dbUrl, KAFKA_BROKERS: inject('kafkaBrokers').join(','), KAFKA_TOPIC: p.topic, LOG_LEVEL: 'warn' };
const run = promisify(execFile);
const cli = async (...args: string[]) => (await run(join(ROOT, 'bin/traceledger'), ['--json', ...args], { env, timeout: 120_000 })).stdout;
const dir = mkdtempSync(join(tmpdir(), 'tl-backfill-'));

const billing = async () => rawNumber((await p.query.inject({ method: 'GET', url: '/api/billing/summary' })).body, 'totalCost');
const platform = async () => rawNumber((await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=all' })).body, 'totalCost');
const sum = (costs: string[]) => formatMoney(costs.reduce((s, c) => s + parseMoney(c), 0n));

function historical(prefix: string, n: number, costOf: (i: number) => string) {
  const t0 = Date.now() - 200 * 86_400_000;
  return Array.from({ length: n }, (_, i) => ({
    event_id: `${prefix}-${i}`, session_id: `${prefix}-s${i % 50}`, agent_id: 'history-agent', type: 'llm.usage',
    occurred_at: new Date(t0 + i * 1000).toISOString(), model: 'gpt-4o', input_tokens: 10 + (i % 7), output_tokens: 3, cost: costOf(i),
  }));
}

describe('traceledger backfill', () => {
  it('stages a load (counting nothing), closes it once into exact totals, and reverts it to the totals before', async () => {
    const live = [{ event_id: `live-${uid()}`, session_id: `live-${uid()}`, agent_id: 'live-agent', type: 'llm.usage', occurred_at: new Date().toISOString(), input_tokens: 5, cost: '0.5' }];
    expect((await p.ingest.inject({ method: 'POST', url: '/v1/events', payload: { events: live } })).statusCode).toBe(202);
    await p.drained();
    const before = await billing();

    const prefix = `h-${uid()}`;
    const events = historical(prefix, 3000, (i) => `0.00${(i % 9) + 1}`);
    const lines = events.map((e) => JSON.stringify(e));
    lines.splice(100, 0, '{not json', JSON.stringify({ ...events[0], event_id: `${prefix}-bad`, input_tokens: -1 }));
    const file = join(dir, 'history.ndjson.gz');
    writeFileSync(file, gzipSync(`${lines.join('\n')}\n`));

    const created = JSON.parse(await cli('backfill', 'create', '--tenant', DEFAULT_TENANT, '--label', 'history')) as { backfillId: string };
    const id = created.backfillId;
    const loaded = JSON.parse(await cli('backfill', 'load', id, file)) as { eventsSent: number; rejectedLines: number; rejectsPath: string };
    expect(loaded).toMatchObject({ eventsSent: 3000, rejectedLines: 2 });
    const rejects = readFileSync(loaded.rejectsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; code: string });
    expect(rejects).toEqual([
      expect.objectContaining({ line: 101, code: 'TL_BACKFILL_BAD_JSON' }),
      expect.objectContaining({ line: 102, code: 'TL_EVENT_BAD_TOKENS' }),
    ]);
    await p.drained();
    await waitFor(async () => JSON.parse(await cli('backfill', 'status', id)).events === 3000, { what: 'all staged', timeoutMs: 30_000 });
    expect(await billing()).toBe(before); // staged: nothing counts yet

    const expected = sum([before, ...events.map((e) => e.cost)]);
    expect(JSON.parse(await cli('backfill', 'close', id))).toMatchObject({ events: 3000, sessions: 50 });
    expect(await billing()).toBe(expected);
    expect(await platform()).toBe(expected);
    expect(JSON.parse(await cli('backfill', 'close', id))).toMatchObject({ alreadyClosed: true });
    expect(await billing()).toBe(expected);

    // Loading the same file into a new backfill adds nothing: every event id is known (it becomes a
    // member of both).
    const again = JSON.parse(await cli('backfill', 'create', '--tenant', DEFAULT_TENANT)) as { backfillId: string };
    await cli('backfill', 'load', again.backfillId, file);
    await p.drained();
    await cli('backfill', 'close', again.backfillId);
    expect(await billing()).toBe(expected);

    // The second backfill holds the same events: reverting the first removes nothing that counts.
    expect(JSON.parse(await cli('backfill', 'revert', id))).toMatchObject({ events: 0 });
    expect(await billing()).toBe(expected);
    // Reverting the second too removes them from the ledger and restores the totals from before.
    expect(JSON.parse(await cli('backfill', 'revert', again.backfillId))).toMatchObject({ events: 3000 });
    expect(await billing()).toBe(before);
    expect(await platform()).toBe(before);
  });

  it('resumes a load killed halfway from its checkpoint, with exact totals and no duplicates', async () => {
    const before = await billing();
    const prefix = `k-${uid()}`;
    const events = historical(prefix, 100_000, (i) => `0.0000${(i % 9) + 1}`);
    const file = join(dir, 'big.ndjson');
    writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const id = (JSON.parse(await cli('backfill', 'create', '--tenant', DEFAULT_TENANT)) as { backfillId: string }).backfillId;

    // Slow the first run down so it can be killed mid-file (SIGKILL: no cleanup at all).
    const child = spawn(join(ROOT, 'bin/traceledger'), ['backfill', 'load', id, file, '--rate', '20000'], { env, stdio: 'ignore' });
    const status = async () => JSON.parse(await cli('backfill', 'status', id)) as { linesDone: number; eventsSent: number };
    await waitFor(async () => (await status()).linesDone >= 20_000, { what: 'a fifth of the file', timeoutMs: 60_000, intervalMs: 200 });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const half = await status();
    expect(half.linesDone).toBeGreaterThan(0);
    expect(half.linesDone).toBeLessThan(100_000);

    const resumed = JSON.parse(await cli('backfill', 'load', id, file)) as { linesDone: number; eventsSent: number };
    expect(resumed.linesDone).toBe(100_000);
    await p.drained(120_000);
    await waitFor(async () => JSON.parse(await cli('backfill', 'status', id)).events === 100_000, { what: 'all 100,000 staged', timeoutMs: 60_000 });
    await cli('backfill', 'close', id);
    const expected = sum([before, ...events.map((e) => e.cost)]);
    expect(await billing()).toBe(expected);
    const { rows } = await p.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM backfill_events WHERE backfill_id = $1', [id]);
    expect(rows[0]?.n).toBe(100_000);
  }, 300_000);

  it('in replace mode, a closed backfill replaces the events of the sessions it covers', async () => {
    const session = `r-${uid()}`;
    const liveEvent = { event_id: `${session}-live`, session_id: session, agent_id: 'replace-agent', type: 'llm.usage', occurred_at: new Date(Date.now() - 3_600_000).toISOString(), input_tokens: 999, cost: '9.99' };
    await p.ingest.inject({ method: 'POST', url: '/v1/events', payload: { events: [liveEvent] } });
    await p.drained();
    const before = await billing();
    const file = join(dir, 'replace.ndjson');
    writeFileSync(file, `${JSON.stringify({ ...liveEvent, event_id: `${session}-corrected`, input_tokens: 100, cost: '1' })}\n`);
    const id = (JSON.parse(await cli('backfill', 'create', '--tenant', DEFAULT_TENANT, '--replace')) as { backfillId: string }).backfillId;
    await cli('backfill', 'load', id, file);
    await p.drained();
    await waitFor(async () => JSON.parse(await cli('backfill', 'status', id)).events === 1, { what: 'staged' });
    await cli('backfill', 'close', id);
    const { rows } = await p.pool.query('SELECT input_tokens::int AS input, cost::text FROM trace_sessions WHERE session_id = $1', [session]);
    expect(rows).toEqual([{ input: 100, cost: '1.000000000' }]);
    expect(await billing()).toBe(formatMoney(parseMoney(before) - parseMoney('9.99') + parseMoney('1')));
    await cli('backfill', 'revert', id);
    expect(await billing()).toBe(before);
  });
});
