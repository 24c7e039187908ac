import { loadConfig } from '@traceledger/config';
import { KeyStore, apiKeyAuthenticator, fixedTenant } from '@traceledger/auth';
import { DEFAULT_TENANT } from '@traceledger/core';
import { createPool, migrate } from '@traceledger/db';
import { createLogger } from '@traceledger/logging';
import { buildQueryApp } from './app.js';

const config = loadConfig();
const logger = createLogger({ service: 'query', level: config.logLevel });
if (config.migrateOnStart) await migrate(config.databaseUrl);
const pool = createPool(config.databaseUrl, {
  applicationName: 'traceledger-query',
  // Dashboard queries are short: JIT compilation costs more than it saves (docs/query-performance.md).
  serverOptions: '-c jit=off',
  onIdleError: (err) => logger.warn({ err }, 'idle database connection closed by the server'),
});
const auth = config.authMode === 'keys' ? apiKeyAuthenticator(new KeyStore(pool)) : fixedTenant(DEFAULT_TENANT);
if (config.authMode === 'none') logger.warn({ tenant: DEFAULT_TENANT }, 'AUTH_MODE=none: no API keys, every request is the default tenant');
const app = await buildQueryApp({ pool, logger, auth, dbRole: config.queryDbRole });
app.addHook('onClose', async () => {
  await pool.end();
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

await app.listen({ port: config.queryPort, host: config.host });
