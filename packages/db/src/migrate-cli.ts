/** `npm run migrate`: applies pending migrations to DATABASE_URL (creating the database if needed). */
import { loadConfig } from '@traceledger/config';
import { createLogger } from '@traceledger/logging';
import { MIGRATIONS_DIR, migrate } from './migrate.js';

const config = loadConfig();
const logger = createLogger({ service: 'migrate', level: config.logLevel });
try {
  await migrate(config.databaseUrl);
  logger.info({ migrations: MIGRATIONS_DIR, database: new URL(config.databaseUrl).pathname.slice(1) }, 'migrations applied');
} catch (err) {
  logger.error({ err }, 'migrations failed');
  process.exitCode = 1;
}
