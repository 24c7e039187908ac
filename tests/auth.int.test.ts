import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import pg from 'pg';
import { KeyStore, apiKeyAuthenticator, createApiKey, revokeApiKey } from '@traceledger/auth';
import { withTenant } from '@traceledger/db';
import { startPipeline } from './helpers/pipeline.js';
import { uid } from './helpers/world.js';

// Logs of every service in this file, to check that no key ever reaches them.
const logLines: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);
const p = await startPipeline({ auth: (pool) => apiKeyAuthenticator(new KeyStore(pool, 0)), logger });
const [tenantA, tenantB] = [`a-${uid()}`, `b-${uid()}`];
const keys = {
  aIngest: await createApiKey(p.pool, { tenantId: tenantA, scopes: ['ingest'] }),
  aQuery: await createApiKey(p.pool, { tenantId: tenantA, scopes: ['query'] }),
  bIngest: await createApiKey(p.pool, { tenantId: tenantB, scopes: ['ingest'] }),
  bQuery: await createApiKey(p.pool, { tenantId: tenantB, scopes: ['query'] }),
  bAdmin: await createApiKey(p.pool, { tenantId: tenantB, scopes: ['admin'] }),
};
const bearer = (k: { key: string }) => ({ authorization: `Bearer ${k.key}` });
const usage = (id: string, agent: string, cost: string) => ({
  event_id: id, session_id: `s-${id}`, agent_id: agent, type: 'llm.usage', occurred_at: new Date(Date.now() - 60_000).toISOString(), input_tokens: 10, cost,
});

describe('API keys and tenants', () => {
  it('takes the tenant from the key: each tenant sees only its own sessions, and another tenant\'s agent is a 404', async () => {
    const a = await p.ingest.inject({ method: 'POST', url: '/v1/events', headers: bearer(keys.aIngest), payload: { events: [usage(`a1-${uid()}`, 'agent-a', '1.25')] } });
    const b = await p.ingest.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': keys.bIngest.key }, payload: { events: [usage(`b1-${uid()}`, 'agent-b', '7')] } });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    await p.drained();
    const { rows } = await p.pool.query('SELECT tenant_id, agent_id, cost::text FROM trace_sessions WHERE tenant_id IN ($1, $2) ORDER BY tenant_id', [tenantA, tenantB]);
    expect(rows).toEqual([
      { tenant_id: tenantA, agent_id: 'agent-a', cost: '1.250000000' },
      { tenant_id: tenantB, agent_id: 'agent-b', cost: '7.000000000' },
    ]);
    const billingA = await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: bearer(keys.aQuery) });
    expect(billingA.json()).toMatchObject({ totalCost: 1.25 });
    const ownAgent = await p.query.inject({ method: 'GET', url: '/api/analytics/agents/agent-a', headers: bearer(keys.aQuery) });
    expect(ownAgent.statusCode).toBe(200);
    const othersAgent = await p.query.inject({ method: 'GET', url: '/api/analytics/agents/agent-b', headers: bearer(keys.aQuery) });
    const noAgent = await p.query.inject({ method: 'GET', url: '/api/analytics/agents/agent-nobody', headers: bearer(keys.aQuery) });
    expect(othersAgent.statusCode).toBe(404);
    expect(othersAgent.json().code).toBe(noAgent.json().code);
    expect(othersAgent.json().message.replace('agent-b', 'X')).toBe(noAgent.json().message.replace('agent-nobody', 'X'));
    // An admin key of B reads B, never A.
    const admin = await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: bearer(keys.bAdmin) });
    expect(admin.json()).toMatchObject({ totalCost: 7 });
  });

  it('answers 401 without a valid key and 403 for the wrong scope', async () => {
    const none = await p.query.inject({ method: 'GET', url: '/api/billing/summary' });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('TL_AUTH_MISSING_KEY');
    const forged = await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: { authorization: `Bearer ${keys.aQuery.key.slice(0, -4)}AAAA` } });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().code).toBe('TL_AUTH_INVALID_KEY');
    const ingestReads = await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: bearer(keys.aIngest) });
    expect(ingestReads.statusCode).toBe(403);
    expect(ingestReads.json().code).toBe('TL_AUTH_WRONG_SCOPE');
    const queryWrites = await p.ingest.inject({ method: 'POST', url: '/v1/events', headers: bearer(keys.aQuery), payload: { events: [usage(`w-${uid()}`, 'agent-a', '1')] } });
    expect(queryWrites.statusCode).toBe(403);
    const unauthenticatedBody = await p.ingest.inject({ method: 'POST', url: '/v1/events', payload: 'not even json', headers: { 'content-type': 'application/json' } });
    expect(unauthenticatedBody.statusCode).toBe(401);
    // Probes, metrics and API docs are for operators' tools, which carry no tenant's key.
    for (const app of [p.query, p.ingest]) {
      for (const url of ['/health', '/healthz', '/ready', '/metrics', '/docs/json']) expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      // A public prefix does not open what lies beside it.
      expect((await app.inject({ method: 'GET', url: '/metrics/../api/billing/summary' })).statusCode).not.toBe(200);
    }
  });

  it('stops accepting a revoked key', async () => {
    const k = await createApiKey(p.pool, { tenantId: tenantA, scopes: ['query'] });
    expect((await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: bearer(k) })).statusCode).toBe(200);
    expect(await revokeApiKey(p.pool, k.keyId)).toBe(true);
    const after = await p.query.inject({ method: 'GET', url: '/api/billing/summary', headers: bearer(k) });
    expect(after.statusCode).toBe(401);
  });

  it('stores only a hash of each key, and no key reaches the logs', async () => {
    const { rows } = await p.pool.query<{ secret_hash: Buffer }>('SELECT secret_hash FROM api_keys WHERE key_id = $1', [keys.aQuery.keyId]);
    const secret = keys.aQuery.key.split('_').slice(2).join('_');
    expect(rows[0]?.secret_hash.toString('utf8')).not.toContain(secret);
    expect(logLines.length).toBeGreaterThan(0);
    for (const k of Object.values(keys)) {
      const s = k.key.split('_').slice(2).join('_');
      expect(logLines.filter((l) => l.includes(s))).toEqual([]);
    }
  });
});

describe('row-level security on trace_sessions, as the query service\'s own role', () => {
  it('shows a transaction only the rows of its tenant, and none without a tenant', async () => {
    const all = await p.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM trace_sessions WHERE tenant_id IN ($1, $2)', [tenantA, tenantB]);
    expect(all.rows[0]?.n).toBe(2);
    // No tenant filter in the SQL: the policy alone keeps B's rows out.
    const seenByA = await withTenant(p.pool, tenantA, 'traceledger_query', async (db) =>
      (await db.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM trace_sessions')).rows.map((r) => r.tenant_id),
    );
    expect(seenByA).toEqual([tenantA]);
    const rollupSeenByB = await withTenant(p.pool, tenantB, 'traceledger_query', async (db) =>
      (await db.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM session_rollup_hourly')).rows.map((r) => r.tenant_id),
    );
    expect(rollupSeenByB).toEqual([tenantB]);
    // The role itself, with no tenant set, sees nothing, and cannot write.
    const client = new pg.Client({ connectionString: (p.pool as unknown as { options: { connectionString: string } }).options.connectionString });
    await client.connect();
    try {
      await client.query('SET ROLE traceledger_query');
      expect((await client.query('SELECT count(*)::int AS n FROM trace_sessions')).rows[0]).toEqual({ n: 0 });
      await expect(client.query("UPDATE trace_sessions SET cost = 0 WHERE tenant_id = 'x'")).rejects.toThrow(/permission denied/);
      await expect(client.query('SELECT count(*) FROM api_keys')).rejects.toThrow(/permission denied/);
    } finally {
      await client.end();
    }
  });
});
