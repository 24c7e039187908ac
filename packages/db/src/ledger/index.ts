/**
 * The ledger: the one module through which every change to `trace_sessions` and
 * `applied_events` goes (docs/architecture.md, "The ledger and what counts" and "One concurrency
 * rule"). The rule itself is pure (`judgeSession` in @traceledger/core); this module applies it
 * in transactions that take their locks in the documented order.
 */
export { inLedgerTransaction, LedgerTx, sortedSessions, sessionRefKey } from './tx.js';
export type { SessionRef, LedgerHooks } from './tx.js';
export { applyEvents } from './apply.js';
export type { SourcedEvent, ApplyResult, RefusedEvent } from './apply.js';
export { recomputeSessions } from './recompute.js';
export type { RecomputeResult } from './recompute.js';
export { reportedOnly, fixedPricing, bookPricing } from './pricing.js';
export type { Pricing } from './pricing.js';
export { classifyFailure, isTransientDbError, isolateRefused, sqlstateOf } from './failures.js';
export type { FailureKind, Refusal } from './failures.js';
export { STORED_COLUMNS, storedEntry, exactJson } from './rows.js';
export type { StoredEntry, StoredRow } from './rows.js';
