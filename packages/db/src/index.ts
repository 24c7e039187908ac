export { createPool } from './pool.js';
export type { Pool, PoolClient } from './pool.js';
export { migrate, ensureDatabase, dropDatabase, MIGRATIONS_DIR } from './migrate.js';
export { applyEvents, upsertSessions, recomputeSession } from './fold-store.js';
export type { SourcedEvent, ApplyResult, PriceOf } from './fold-store.js';
