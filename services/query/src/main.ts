import { loadConfig } from '@traceledger/config';
import { connectionChecks, serveUntilSignal } from '@traceledger/http';
import { KeyStore, apiKeyAuthenticator, fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { createPool, migrate } from '@traceledger/db';
import { createLogger } from '@traceledger/logging';
import { buildQueryApp } from './app.js';

const config = loadConfig();
const logger = createLogger({ service: 'query', level: config.logLevel });
// Migrations go to the primary; reads to QUERY_DATABASE_URL (a streaming replica, or the primary).
if (config.migrateOnStart) await migrate(config.databaseUrl);
const pool = createPool(config.queryDatabaseUrl, {
  applicationName: 'traceledger-query',
  // Dashboard queries are short: JIT compilation costs more than it saves (docs/query-performance.md).
  serverOptions: '-c jit=off',
  onIdleError: (err) => logger.warn({ err }, 'idle database connection closed by the server'),
});
const auth = config.authMode === 'keys' ? apiKeyAuthenticator(new KeyStore(pool)) : fixedTenant(DEFAULT_TENANT);
if (config.authMode === 'none') logger.warn({ tenant: DEFAULT_TENANT }, 'AUTH_MODE=none: no API keys, every request is the default tenant');
const app = await buildQueryApp({ pool, logger, auth, dbRole: config.queryDbRole, readiness: connectionChecks({ pool }) });
app.addHook('onClose', async () => {
  await pool.end();
});

await serveUntilSignal(app, logger, { port: config.queryPort, host: config.host });
