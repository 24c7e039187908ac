import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createApiKey } from '@traceledger/auth';
import { expectExactlyOnce } from '../helpers/faults/exactly-once.js';
import { startIngest } from '../helpers/faults/ingest.js';
import { freePort } from '../helpers/faults/ports.js';
import { startPrivatePostgres, startPrivateStandby } from '../helpers/faults/private-postgres.js';
import { msg, spawnService, type LogLine } from '../helpers/faults/processes.js';
import { EventFactory, startTraffic } from '../helpers/faults/traffic.js';
import { createFaultWorld, printProcessLogsOnFailure } from '../helpers/faults/world.js';
import { uid, waitFor } from '../helpers/world.js';

// The query service on a streaming replica (QUERY_DATABASE_URL) while the consumer writes to the
// primary: a private primary and its hot standby (pg_basebackup -R), never the shared server.
printProcessLogsOnFailure();

const listening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');
/** How far behind the primary the replica's answers may be once the fold has committed (docs/scaling.md). */
const REPLICA_LAG_BOUND_MS = 5000;

interface Totals {
  cost: string;
  sessions: number;
}

describe('the query service on a read replica', () => {
  it('answers from the standby: billing = analytics = the primary, per tenant under row security, caught up within the bound', async ({ annotate }) => {
    const primary = await startPrivatePostgres();
    const world = await createFaultWorld({ brokers: inject('kafkaBrokers'), adminDatabaseUrl: primary.url('postgres') });
    const standby = await startPrivateStandby(primary);
    const replicaUrl = standby.url(new URL(world.databaseUrl).pathname.slice(1));
    const replica = new pg.Client({ connectionString: replicaUrl });
    await replica.connect();
    try {
      expect((await replica.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r, 'the replica is a standby').toBe(true);

      const tenants = [`ta-${uid()}`, `tb-${uid()}`];
      const keys = await Promise.all(tenants.map((tenantId) => createApiKey(world.pool, { tenantId, scopes: ['query'] })));
      const queryPort = await freePort();
      const query = spawnService('query', { DATABASE_URL: world.databaseUrl, QUERY_DATABASE_URL: replicaUrl, QUERY_PORT: String(queryPort), AUTH_MODE: 'keys' });
      const consumer = spawnService('consumer', world.consumerEnv());
      await Promise.all([query.waitForLog(listening, { timeoutMs: 45_000, what: 'query listening' }), consumer.waitForLog(msg('consumer running'), { timeoutMs: 45_000 })]);
      const ingest = await startIngest({ brokers: world.brokers, topic: world.topic, pool: world.pool });

      const traffic = startTraffic(ingest.post, new EventFactory(tenants));
      await waitFor(() => traffic.batches() >= 20, { timeoutMs: 30_000, what: 'traffic flowing' });
      const acked = await traffic.stop();
      await world.drained({ timeoutMs: 45_000 });
      const foldedAt = Date.now();
      await expectExactlyOnce(world.pool, acked);

      const onPrimary = new Map<string, Totals>();
      for (const t of tenants) {
        const { rows } = await world.pool.query<{ cost: string; sessions: string }>('SELECT coalesce(sum(cost), 0)::text AS cost, count(*)::text AS sessions FROM trace_sessions WHERE tenant_id = $1', [t]);
        onPrimary.set(t, { cost: decimal(rows[0]?.cost ?? '0'), sessions: Number(rows[0]?.sessions) });
      }
      const base = `http://127.0.0.1:${queryPort}`;
      const get = async (path: string, key: string) => {
        const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
        expect(res.status, path).toBe(200);
        return (await res.json()) as Record<string, unknown>;
      };
      const platform = async (key: string): Promise<Totals> => {
        const { data } = (await get('/api/analytics/platform?period=all', key)) as { data: { totalCost: string; totalSessions: number } };
        return { cost: decimal(String(data.totalCost)), sessions: Number(data.totalSessions) };
      };

      // The replica catches up with the committed fold: tenant A's answer equals the primary's.
      const [first] = tenants as [string, string];
      await waitFor(async () => (await platform(keys[0]!.key)).sessions === onPrimary.get(first)?.sessions, {
        timeoutMs: 30_000,
        intervalMs: 25,
        what: 'the replica to show what the primary committed',
      });
      const lagMs = Date.now() - foldedAt;
      expect(lagMs, `replica answers within ${REPLICA_LAG_BOUND_MS} ms of the fold's commit`).toBeLessThan(REPLICA_LAG_BOUND_MS);

      for (const [i, t] of tenants.entries()) {
        const key = keys[i]!.key;
        const analytics = await platform(key);
        const billing = (await get('/api/billing/summary', key)) as { totalCost: string };
        // Row security on the replica: each key sees its own tenant's sessions and no other's.
        expect(analytics, `analytics on the replica for ${t}`).toEqual(onPrimary.get(t));
        expect(decimal(String(billing.totalCost)), `billing = analytics on the replica for ${t}`).toBe(analytics.cost);
      }
      const all = [...onPrimary.values()].reduce((n, x) => n + x.sessions, 0);
      expect((await platform(keys[0]!.key)).sessions, 'tenant A does not see tenant B').toBeLessThan(all);
      await annotate(`${acked.length} events; replica caught up ${lagMs} ms after the fold committed on the primary`);

      // The query role reads the replica as it reads the primary; the replica refuses writes.
      await expect(replica.query('INSERT INTO trace_sessions (tenant_id, session_id) VALUES ($1, $2)', ['x', 'y'])).rejects.toThrow(/read-only/);
      consumer.signal('SIGTERM');
      query.signal('SIGTERM');
      expect((await consumer.exited).code).toBe(0);
      expect((await query.exited).code).toBe(0);
    } finally {
      await replica.end();
    }
  });
});

/** A decimal as digits without trailing zeros ("1.500000000" → "1.5", "0.000" → "0"). */
function decimal(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
