/**
 * `npm run verify [-- --tenant T]`: recomputes what is derived from trace_sessions and prints any
 * difference. Exits 0 when nothing drifted, 1 when something did.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@traceledger/config';
import { createPool } from './pool.js';
import { verifyDerived } from './verify.js';

const { values } = parseArgs({ options: { tenant: { type: 'string' } } });
const config = loadConfig();
const pool = createPool(config.databaseUrl, { max: 1, applicationName: 'traceledger-verify' });
try {
  const started = Date.now();
  const drift = await verifyDerived(pool, values.tenant === undefined ? {} : { tenantId: values.tenant });
  for (const d of drift) console.log(`${d.check}\t${d.tenantId}\t${d.key}\texpected ${d.expected}\tactual ${d.actual}`);
  console.log(drift.length === 0 ? `verify: no drift (${Date.now() - started} ms)` : `verify: ${drift.length} difference(s)`);
  process.exitCode = drift.length === 0 ? 0 : 1;
} finally {
  await pool.end();
}
