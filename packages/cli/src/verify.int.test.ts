import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { traceEvent } from '@traceledger/core';
import { applyEvents } from '@traceledger/db';
import { createTestDatabase, uid } from '../../../tests/helpers/world.js';

// `traceledger verify` (and `npm run verify`) as an operator runs it: exit 0 when every session
// is what its ledger makes it, 1 with one line per difference when not.

const { url, pool } = await createTestDatabase();
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/traceledger');
const verify = (...args: string[]) =>
  promisify(execFile)(bin, ['verify', ...args], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' }, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
  );

describe('traceledger verify', () => {
  it('exits 0 on a consistent database and 1 with each difference after a row is damaged', async () => {
    const tenant = `v-${uid()}`;
    await applyEvents(pool, Array.from({ length: 30 }, (_, i) => ({ event: traceEvent({ eventId: `e${i}`, tenantId: tenant, sessionId: `s${i % 3}`, agentId: 'a', type: 'llm.usage', occurredAtMs: Date.now() - 60_000, inputTokens: 5, costNanos: 1000n }) })));
    const clean = await verify();
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/^verify: no differences \(\d+ ms; 3 sessions, 30 ledger events\)$/m);

    // A lost update, as the old races made: one event missing from its session row.
    await pool.query("UPDATE trace_sessions SET event_count = event_count - 1, input_tokens = input_tokens - 5 WHERE tenant_id = $1 AND session_id = 's1'", [tenant]);
    const damaged = await verify('--tenant', tenant);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toContain(`session\t${tenant}\tsession s1 input_tokens\texpected 50\tactual 45`);
    expect(damaged.stdout).toContain(`session\t${tenant}\tsession s1 event_count\texpected 10\tactual 9`);
    // The rollups follow trace_sessions (a trigger), but the row's per-model usage no longer adds up to it.
    expect(damaged.stdout).toContain(`models\t${tenant}\tsession s1`);
    expect(damaged.stdout).toMatch(/^verify: 3 difference\(s\)/m);
  });
});
