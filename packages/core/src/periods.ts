import { TraceLedgerError } from './errors.js';

/** The named look-back periods every analytics endpoint accepts. */
export const PERIODS = ['24h', '7d', '30d', '90d', 'all'] as const;
export type Period = (typeof PERIODS)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const PERIOD_MS: Record<Exclude<Period, 'all'>, number> = {
  '24h': DAY_MS,
  '7d': 7 * DAY_MS,
  '30d': 30 * DAY_MS,
  '90d': 90 * DAY_MS,
};

/** A half-open time range [from, to); `from` null means "since the beginning". */
export interface TimeRange {
  from: Date | null;
  to: Date;
}

/** True when `value` names a supported period. */
export function isPeriod(value: string): value is Period {
  return (PERIODS as readonly string[]).includes(value);
}

/**
 * Resolves a named period against `now`: the range ends just after `now` (so a session that
 * started this millisecond is inside) and starts the period's length before it.
 */
export function resolvePeriod(period: Period, now: Date): TimeRange {
  const to = new Date(now.getTime() + 1);
  if (period === 'all') return { from: null, to };
  return { from: new Date(to.getTime() - PERIOD_MS[period]), to };
}

/** Parses a period query value, throwing TL_QUERY_BAD_PERIOD naming what is allowed. */
export function parsePeriod(value: string | undefined, fallback: Period): Period {
  if (value === undefined || value === '') return fallback;
  if (!isPeriod(value)) {
    throw new TraceLedgerError(
      'TL_QUERY_BAD_PERIOD',
      `period "${value}" is not supported; use one of ${PERIODS.join(', ')}`,
      { statusCode: 400 },
    );
  }
  return value;
}

/** The calendar month (UTC) containing `now`, and the one before it, as half-open ranges. */
export function utcMonths(now: Date): { thisMonth: TimeRange & { from: Date }; lastMonth: TimeRange & { from: Date } } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const thisStart = new Date(Date.UTC(y, m, 1));
  const nextStart = new Date(Date.UTC(y, m + 1, 1));
  const lastStart = new Date(Date.UTC(y, m - 1, 1));
  return {
    thisMonth: { from: thisStart, to: nextStart },
    lastMonth: { from: lastStart, to: thisStart },
  };
}

/**
 * The UTC days of the last `days` days ending with the day of `now`, oldest first, as
 * ISO dates ("2026-11-25"). Used for per-day trends so that days without sessions are present.
 */
export function lastUtcDays(days: number, now: Date): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) out.push(new Date(today - i * DAY_MS).toISOString().slice(0, 10));
  return out;
}
