import { InvalidInputError, TraceLedgerError } from './errors.js';
import { TimeErrorCode, parseTimeOrDate } from './time.js';
import { checkTimeZone, instantOf, startOf, startOfNext, wallTimeOf, type CalendarUnit } from './zoned.js';

/** The named periods every analytics endpoint accepts. */
export const PERIODS = ['24h', '7d', '30d', '90d', 'mtd', 'all'] as const;
export type Period = (typeof PERIODS)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const ROLLING_MS: Record<Exclude<Period, 'all' | 'mtd'>, number> = {
  '24h': DAY_MS,
  '7d': 7 * DAY_MS,
  '30d': 30 * DAY_MS,
  '90d': 90 * DAY_MS,
};

/** A half-open time range [from, to) of session starts; null ends are unbounded. */
export interface TimeRange {
  from: Date | null;
  to: Date | null;
}

/** True when `value` names a supported period. */
export function isPeriod(value: string): value is Period {
  return (PERIODS as readonly string[]).includes(value);
}

/**
 * Resolves a named period against `now`. Rolling periods (24h … 90d) end just after `now` (so a
 * session that started this millisecond is inside); `mtd` starts at the first of the month in
 * `tz`; `all` is unbounded at both ends, so it covers exactly what the billing totals cover.
 */
export function resolvePeriod(period: Period, now: Date, tz = 'UTC'): TimeRange {
  const to = new Date(now.getTime() + 1);
  if (period === 'all') return { from: null, to: null };
  if (period === 'mtd') return { from: new Date(startOf('month', now.getTime(), tz)), to };
  return { from: new Date(to.getTime() - ROLLING_MS[period]), to };
}

/** Parses a period query value, throwing TL_QUERY_BAD_PERIOD naming what is allowed. */
export function parsePeriod(value: string | undefined, fallback: Period): Period {
  if (value === undefined || value === '') return fallback;
  if (!isPeriod(value)) {
    throw new InvalidInputError(
      'TL_QUERY_BAD_PERIOD',
      `period "${value}" is not supported; use one of ${PERIODS.join(', ')}, or from/to`,
    );
  }
  return value;
}

/** A range as asked for: a named period, or explicit bounds. */
export interface RangeQuery {
  period?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  tz?: string | undefined;
}

export interface ResolvedRange extends TimeRange {
  /** The named period, or "custom" for explicit from/to. */
  period: Period | 'custom';
  tz: string;
}

/**
 * Resolves `period` or `from`/`to` (each an RFC 3339 time with a zone, or a date YYYY-MM-DD meaning
 * local midnight in `tz`) and `tz` (IANA, default UTC). Throws an InvalidInputError naming the
 * parameter: TL_QUERY_BAD_PERIOD, TL_QUERY_BAD_TZ or TL_QUERY_BAD_RANGE.
 */
export function resolveRange(q: RangeQuery, now: Date, fallback: Period): ResolvedRange {
  const tz = checkTimeZone(q.tz === undefined || q.tz === '' ? 'UTC' : q.tz);
  const hasBounds = (q.from ?? '') !== '' || (q.to ?? '') !== '';
  if (hasBounds) {
    if ((q.period ?? '') !== '') throw badRange('use either period or from/to, not both');
    const from = q.from ? parseBound(q.from, 'from', tz) : null;
    const to = q.to ? parseBound(q.to, 'to', tz) : null;
    if (from !== null && to !== null && from.getTime() >= to.getTime()) throw badRange(`from (${q.from}) must be before to (${q.to})`);
    return { period: 'custom', tz, from, to };
  }
  const period = parsePeriod(q.period, fallback);
  return { period, tz, ...resolvePeriod(period, now, tz) };
}

function parseBound(value: string, name: 'from' | 'to', tz: string): Date {
  try {
    return new Date(parseTimeOrDate(value, (date) => instantOf(date, tz)));
  } catch (err) {
    if (!(err instanceof TraceLedgerError)) throw err;
    if (err.code === TimeErrorCode.NoSuchDate) throw badRange(`${name} "${value}" is not a real date`, err);
    if (err.code === TimeErrorCode.NoSuchTime) throw badRange(`${name} "${value}" is not a real time`, err);
    throw badRange(`${name} "${value}" must be a date like 2026-11-01 or a time with a zone like 2026-11-01T00:00:00Z`, err);
  }
}

function badRange(message: string, cause?: unknown): InvalidInputError {
  return new InvalidInputError('TL_QUERY_BAD_RANGE', message, { cause });
}

/** The calendar month containing `now` in `tz`, and the one before it, as half-open ranges. */
export function calendarMonths(now: Date, tz = 'UTC'): { thisMonth: { from: Date; to: Date }; lastMonth: { from: Date; to: Date } } {
  const thisStart = startOf('month', now.getTime(), tz);
  const nextStart = startOfNext('month', now.getTime(), tz);
  const lastStart = startOf('month', thisStart - 1, tz);
  return {
    thisMonth: { from: new Date(thisStart), to: new Date(nextStart) },
    lastMonth: { from: new Date(lastStart), to: new Date(thisStart) },
  };
}

/** The UTC calendar month containing `now`, and the one before it. */
export function utcMonths(now: Date): { thisMonth: { from: Date; to: Date }; lastMonth: { from: Date; to: Date } } {
  return calendarMonths(now, 'UTC');
}

/**
 * The last `days` local days in `tz` ending with the day of `now`, oldest first, each as its date
 * ("2026-11-25") and start instant. Used for per-day trends so that days without sessions appear.
 */
export function lastDays(days: number, now: Date, tz = 'UTC'): { date: string; start: Date; end: Date }[] {
  const out: { date: string; start: Date; end: Date }[] = [];
  let end = startOfNext('day', now.getTime(), tz);
  for (let i = 0; i < days; i++) {
    const start = startOf('day', end - 1, tz);
    out.push({ date: localDate(start, tz), start: new Date(start), end: new Date(end) });
    end = start;
  }
  return out.reverse();
}

/** The UTC days of the last `days` days ending with the day of `now`, oldest first ("2026-11-25"). */
export function lastUtcDays(days: number, now: Date): string[] {
  return lastDays(days, now, 'UTC').map((d) => d.date);
}

function localDate(ms: number, tz: string): string {
  const w = wallTimeOf(ms, tz);
  return `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

/** Buckets a usage series can use, and the most buckets one answer may hold. */
export const BUCKETS = ['hour', 'day', 'week', 'month'] as const satisfies readonly CalendarUnit[];
export type Bucket = (typeof BUCKETS)[number];
export const MAX_BUCKETS = 1000;

/** Parses a bucket name, throwing TL_QUERY_BAD_BUCKET naming what is allowed. */
export function parseBucket(value: string | undefined, fallback: Bucket): Bucket {
  if (value === undefined || value === '') return fallback;
  if (!(BUCKETS as readonly string[]).includes(value)) {
    throw new InvalidInputError('TL_QUERY_BAD_BUCKET', `bucket "${value}" is not supported; use one of ${BUCKETS.join(', ')}`);
  }
  return value as Bucket;
}

/**
 * Throws TL_QUERY_RANGE_TOO_LARGE when a range would need more than MAX_BUCKETS buckets of this
 * size, or is unbounded (a series needs both ends). `now` closes an open end.
 */
export function checkBucketRange(range: TimeRange, bucket: Bucket, now: Date): { from: Date; to: Date } {
  const to = range.to ?? new Date(now.getTime() + 1);
  if (range.from === null) {
    throw new InvalidInputError('TL_QUERY_RANGE_TOO_LARGE', `a ${bucket} series needs a start: give from, or a period other than all`);
  }
  if (range.from.getTime() >= to.getTime()) {
    throw new InvalidInputError('TL_QUERY_BAD_RANGE', `from (${range.from.toISOString()}) must be before to (${to.toISOString()})`);
  }
  const approx: Record<Bucket, number> = { hour: HOUR_MS, day: DAY_MS, week: 7 * DAY_MS, month: 28 * DAY_MS };
  const buckets = Math.ceil((to.getTime() - range.from.getTime()) / approx[bucket]);
  if (buckets > MAX_BUCKETS) {
    throw new InvalidInputError(
      'TL_QUERY_RANGE_TOO_LARGE',
      `this range holds about ${buckets} ${bucket} buckets, more than the ${MAX_BUCKETS} allowed; use a larger bucket or a shorter range`,
    );
  }
  return { from: range.from, to };
}

/** The UTC calendar month of an instant, named by its first day ('2026-08-01'). */
export function utcMonthOf(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 7)}-01`;
}

/** The month `n` months after `month` (both named by their first day, 'YYYY-MM-01'). */
export function addUtcMonths(month: string, n: number): string {
  const d = new Date(`${month}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return utcMonthOf(d.getTime());
}

/** A month written 'YYYY-MM' as its first day ('YYYY-MM-01'); anything else is an InvalidInputError naming the value. */
export function parseMonth(value: string): string {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(value)) throw new InvalidInputError('TL_INVALID_MONTH', `a month is written YYYY-MM (e.g. 2026-08), got "${value}"`);
  return `${value}-01`;
}
