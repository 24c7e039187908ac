export { InvalidInputError, TraceLedgerError, hasCode } from './errors.js';
export { MONEY_SCALE, MAX_EVENT_NANOS, parseMoney, formatMoney, sumMoney, normaliseDecimalText } from './money.js';
export type { Period, TimeRange, RangeQuery, ResolvedRange, Bucket } from './periods.js';
export {
  PERIODS,
  BUCKETS,
  MAX_BUCKETS,
  isPeriod,
  resolvePeriod,
  resolveRange,
  parsePeriod,
  parseBucket,
  checkBucketRange,
  calendarMonths,
  utcMonths,
  lastDays,
  lastUtcDays,
  utcMonthOf,
  addUtcMonths,
  parseMonth,
} from './periods.js';
export type { EventType, EndStatus, SessionStatus, TraceEvent } from './events.js';
export { EVENT_TYPES, END_STATUSES, SESSION_STATUSES, DEFAULT_TENANT, EMPTY_EVENT_FIELDS, traceEvent } from './events.js';
export type { SessionState, EventKey, PriceOf, ModelUsage } from './fold.js';
export {
  compareKeys,
  sessionStatus,
  sessionStartMs,
  sessionEndMs,
  sessionKey,
  eventToState,
  mergeStates,
  dedupeEvents,
  aggregateBySession,
  foldCounting,
  reportedCostOnly,
  UNKNOWN_MODEL,
  MAX_MODELS_PER_SESSION,
  OTHER_MODELS,
} from './fold.js';
export type { BackfillState, BackfillInfo, LedgerEntry, EventMarks, SessionJudgement, BackfillLookup, BackfillArrival } from './ledger.js';
export { judgeSession, sessionOwner, inForce, backfillArrival, foldSession, compareIds } from './ledger.js';
export type { PriceEntry, PricedCost, PriceBookFile } from './pricing.js';
export { PriceBook, costOf, parsePriceBookFile } from './pricing.js';
export type { WallTime, CalendarUnit } from './zoned.js';
export { isTimeZone, checkTimeZone, wallTimeOf, offsetMs, instantOf, startOf, startOfNext } from './zoned.js';
export type { CalendarDate } from './time.js';
export { TimeErrorCode, parseInstant, parseTimeOrDate, parseDate, utcMidnight } from './time.js';
export { seededRandom } from './random.js';
