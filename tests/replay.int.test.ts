import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { formatMoney } from '@traceledger/core';
import { verifyLedger } from '@traceledger/db';
import { sampleSessions } from '../scripts/sample-events.js';
import { rawNumber, startPipeline } from './helpers/pipeline.js';
import { waitFor } from './helpers/world.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const p = await startPipeline();
const dbUrl = (p.pool as unknown as { options: { connectionString: string } }).options.connectionString;
const env = { ...process.env, DATABASE_URL: dbUrl, KAFKA_BROKERS: inject('kafkaBrokers').join(','), KAFKA_TOPIC: p.topic, LOG_LEVEL: 'warn' };
const run = promisify(execFile);
const replay = async (...args: string[]) => JSON.parse((await run(join(ROOT, 'bin/traceledger'), ['--json', 'replay', ...args], { env, timeout: 120_000 })).stdout) as { events: number; sessions: number; records: number };
const post = async (events: unknown[]) => expect((await p.ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } })).statusCode).toBe(202);

async function snapshot() {
  const { rows } = await p.pool.query(
    `SELECT tenant_id, session_id, agent_id, team_id, started_at, ended_at, status, input_tokens, output_tokens, cost::text, event_count, models
     FROM trace_sessions ORDER BY tenant_id, session_id`,
  );
  const billing = rawNumber((await p.query.inject({ method: 'GET', url: '/api/billing/summary' })).body, 'totalCost');
  const analytics = rawNumber((await p.query.inject({ method: 'GET', url: '/api/analytics/platform?period=all' })).body, 'totalCost');
  return { rows, billing, analytics };
}

describe('traceledger replay', () => {
  const first = sampleSessions(30);
  const during = sampleSessions(20);

  it('rebuilds sessions from the topic while the live consumer ingests, twice, with totals equal to one clean fold', async () => {
    await post(first.events);
    await p.drained();
    const clean = await snapshot();
    expect(clean.billing).toBe(first.expected.cost);

    // Damage the derived data as a fold bug would: costs zeroed in the ledger and the rows.
    await p.pool.query("UPDATE applied_events SET cost = 0 WHERE type = 'llm.usage'");
    await p.pool.query('UPDATE trace_sessions SET cost = 0, input_tokens = 0');
    expect((await snapshot()).billing).toBe('0');

    // Replay while new events keep arriving through ingest and the live consumer.
    const replaying = replay('--from', 'earliest');
    await post(during.events.slice(0, 40));
    await post(during.events.slice(40));
    const result = await replaying;
    expect(result.records).toBeGreaterThanOrEqual(first.events.length);
    await p.drained();

    const expected = formatMoney(first.expected.costNanos + during.expected.costNanos);
    const after = await snapshot();
    expect(after.billing).toBe(expected);
    expect(after.analytics).toBe(expected);
    expect(after.rows).toHaveLength(50);
    // The first 30 sessions are exactly what a clean fold gave.
    const firstIds = new Set(first.sessionIds);
    expect(after.rows.filter((r) => firstIds.has(r.session_id as string))).toEqual(clean.rows);
    expect((await verifyLedger(p.pool)).drifts).toEqual([]);

    // Again: identical.
    await replay('--from', 'earliest');
    await p.drained();
    expect(await snapshot()).toEqual(after);
  });

  it('leaves the live tables untouched when a replay is interrupted, and can be run again', async () => {
    const clean = await snapshot();
    await p.pool.query("UPDATE applied_events SET cost = 0 WHERE type = 'llm.usage'");
    await p.pool.query('UPDATE trace_sessions SET cost = 0');
    const damaged = await snapshot();
    // Hold a lock the swap needs, so the replay is caught just before its swap, then SIGKILL it.
    const blocker = await p.pool.connect();
    await blocker.query('BEGIN; LOCK TABLE applied_events IN SHARE MODE');
    const child = execFile(join(ROOT, 'bin/traceledger'), ['replay', '--from', 'earliest'], { env });
    await waitFor(async () => {
      const { rows } = await p.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'traceledger-cli' AND wait_event_type = 'Lock'",
      );
      return rows[0]?.n === 1;
    }, { what: 'the replay to wait at its swap', timeoutMs: 60_000 });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    await blocker.query('COMMIT');
    blocker.release();
    expect(await snapshot()).toEqual(damaged);

    await replay('--from', 'earliest');
    expect(await snapshot()).toEqual(clean);
    const { rows } = await p.pool.query("SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'tl_replay'");
    expect(rows[0]).toEqual({ n: 0 });
  });
});
