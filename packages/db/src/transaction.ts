import type { Pool, PoolClient } from 'pg';

/**
 * The one way traceledger runs a transaction: `fn` on one pooled connection between BEGIN (or
 * `begin`, which must start the transaction) and COMMIT (or `commitSql`, which must end with it),
 * ROLLBACK on any error. A connection that cannot even roll back is destroyed, not returned to
 * the pool. The ledger builds its transactions on this (ledger/tx.ts), adding its lock order.
 */
export async function inTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  options: { begin?: (client: PoolClient) => Promise<void>; commitSql?: string } = {},
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    if (options.begin) await options.begin(client);
    else await client.query('BEGIN');
    const result = await fn(client);
    await client.query(options.commitSql ?? 'COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
