import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { normaliseDecimalText } from '@traceledger/core';
import { createTestDatabase, uid, waitFor } from './helpers/world.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** Runs scripts/run.ts as `npm run demo` / `npm run stack` do, in a world of this test's own. */
async function runScript(mode: 'demo' | 'stack', databaseUrl: string) {
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: inject('kafkaBrokers').join(','),
    KAFKA_TOPIC: `tl-e2e-${inject('runId')}-${uid()}`,
    KAFKA_CONSUMER_GROUP: `tl-e2e-${uid()}`,
    INGEST_PORT: String(await freePort()),
    QUERY_PORT: String(await freePort()),
    CONSUMER_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/run.ts'), mode], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, env, exited, output: () => output };
}

describe('the README run command', () => {
  it('npm run demo posts a sample, and billing and analytics print the same non-zero total that is in trace_sessions', async () => {
    const { url, pool } = await createTestDatabase();
    const run = await runScript('demo', url);
    const code = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 110_000))]);
    if (code !== 0) run.child.kill('SIGKILL');
    expect(code, run.output()).toBe(0);
    const out = run.output();
    const billing = /GET \/api\/billing\/summary\n(.*)\n/.exec(out)?.[1] ?? '';
    const analytics = /GET \/api\/analytics\/platform\?period=all\n(.*)\n/.exec(out)?.[1] ?? '';
    const billingCost = /"totalCost":([\d.]+)/.exec(billing)?.[1];
    const analyticsCost = /"totalCost":([\d.]+)/.exec(analytics)?.[1];
    expect(billingCost).toBeDefined();
    expect(Number(billingCost)).toBeGreaterThan(0);
    expect(analyticsCost).toBe(billingCost);
    const { rows } = await pool.query<{ cost: string }>("SELECT sum(cost)::text AS cost FROM trace_sessions WHERE tenant_id = 'dev'");
    expect(normaliseDecimalText(rows[0]?.cost ?? null)).toBe(billingCost);
    expect(out).toContain('billing and analytics agree');
  });

  it('npm run stack serves ingest and query until SIGTERM, then drains and exits 0', async () => {
    const { url } = await createTestDatabase();
    const run = await runScript('stack', url);
    try {
      await waitFor(() => run.output().includes('Ctrl-C stops'), { timeoutMs: 90_000, what: 'the stack to start' });
      const ingestKey = /ingest key (tl_\S+)/.exec(run.output())?.[1];
      const queryKey = /query key\s+(tl_\S+)/.exec(run.output())?.[1];
      expect(ingestKey, run.output()).toBeDefined();
      expect(queryKey, run.output()).toBeDefined();
      const ingest = `http://127.0.0.1:${run.env.INGEST_PORT}`;
      const query = `http://127.0.0.1:${run.env.QUERY_PORT}`;
      const sessionId = `stack-${uid()}`;
      const posted = await fetch(`${ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ingestKey}` },
        body: JSON.stringify({
          events: [
            { event_id: `${sessionId}-1`, session_id: sessionId, agent_id: 'stack-agent', type: 'llm.usage', occurred_at: new Date().toISOString(), input_tokens: 5, output_tokens: 7, cost: '0.25' },
          ],
        }),
      });
      expect(posted.status).toBe(202);
      const summary = await waitFor(async () => {
        const body = await (await fetch(`${query}/api/billing/summary`, { headers: { authorization: `Bearer ${queryKey}` } })).text();
        return body.includes('"totalCost":0.25') ? body : undefined;
      }, { timeoutMs: 30_000, what: 'the event to reach billing' });
      expect(summary).toContain('"totalTokens":12');
      // The keys the stack printed are scoped: the ingest key cannot read.
      const denied = await fetch(`${query}/api/billing/summary`, { headers: { authorization: `Bearer ${ingestKey}` } });
      expect(denied.status).toBe(403);
    } finally {
      run.child.kill('SIGTERM');
    }
    const code = await Promise.race([run.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code === 'timeout') run.child.kill('SIGKILL');
    expect(code).toBe(0);
  });
});
