import type { Pool, PoolClient } from 'pg';

/**
 * Runs `fn` in a read-only transaction that can see only `tenantId`'s rows: it switches to the
 * row-security role `role` (migration 0005) and sets `traceledger.tenant_id` for the transaction,
 * in one round trip. With `role` null the connection's own role is kept (tests of the role itself
 * pass it explicitly). The application's own tenant filters stay in every query: this is the
 * second wall.
 */
export async function withTenant<T>(pool: Pool, tenantId: string, role: string | null, fn: (db: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    const setRole = role === null ? '' : `SET LOCAL ROLE ${client.escapeIdentifier(role)};`;
    await client.query(`BEGIN READ ONLY; ${setRole} SELECT set_config('traceledger.tenant_id', ${client.escapeLiteral(tenantId)}, true)`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
