export { createPool } from './pool.js';
export type { Pool, PoolClient } from './pool.js';
export { migrate, ensureDatabase, dropDatabase, MIGRATIONS_DIR } from './migrate.js';
export {
  applyEvents,
  recomputeSessions,
  inLedgerTransaction,
  LedgerTx,
  reportedOnly,
  fixedPricing,
  bookPricing,
  classifyFailure,
  isTransientDbError,
  isolateRefused,
  sqlstateOf,
  STORED_COLUMNS,
  storedEntry,
  exactJson,
} from './ledger/index.js';
export type { SourcedEvent, ApplyResult, RefusedEvent, Pricing, FailureKind, Refusal, SessionRef, LedgerHooks, StoredEntry, StoredRow, RecomputeResult } from './ledger/index.js';
export { PRICES_DIR, readPriceFiles, storePriceEntries, loadPriceBook, loadPriceEntries } from './price-book.js';
export { verifyLedger } from './verify.js';
export type { Drift, VerifyResult, VerifyProgress, VerifyOptions } from './verify.js';
export { withTenant } from './tenant.js';
export { reprice } from './reprice.js';
export type { RepricePlan, RepriceLine } from './reprice.js';
export { createBackfill, getBackfill, listBackfills, checkpointBackfill, closeBackfill, revertBackfill } from './backfill.js';
export type { Backfill } from './backfill.js';
export { SHADOW_SCHEMA, prepareShadow, foldIntoShadow, swapReplay, dropShadow } from './replay.js';
export type { SwapResult, Shadow } from './replay.js';
export { inTransaction } from './transaction.js';
export { ensureLedgerPartitions, listLedgerMonths, archiveLedgerMonth } from './ledger-archive.js';
export type { LedgerMonthInfo, ArchiveResult, ArchiveOptions } from './ledger-archive.js';
