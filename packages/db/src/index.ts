export { createPool } from './pool.js';
export type { Pool, PoolClient } from './pool.js';
export { migrate, ensureDatabase, dropDatabase, MIGRATIONS_DIR } from './migrate.js';
export { applyEvents, upsertSessions, recomputeSession } from './fold-store.js';
export type { SourcedEvent, ApplyResult } from './fold-store.js';
export { PRICES_DIR, readPriceFiles, storePriceEntries, loadPriceBook } from './price-book.js';
export { verifyDerived } from './verify.js';
export type { Drift } from './verify.js';
export { withTenant } from './tenant.js';
