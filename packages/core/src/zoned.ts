import { InvalidInputError } from './errors.js';

/**
 * Calendar arithmetic in an IANA time zone with the platform's Intl data and no I/O: the local
 * wall time of an instant, and the instant of a local wall time, so day, week and month
 * boundaries of any zone (DST included) can be computed as plain functions.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    // Bounded: a client sending many spellings of zones must not grow this without limit.
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
}

/**
 * True when `tz` is an IANA zone this runtime knows: "UTC" or an Area/Location name. Names without
 * a slash are refused because Postgres reads a zone abbreviation first (date_trunc, AT TIME ZONE):
 * to it "IST" is Israel (+02) and "CET" a fixed +01, while Intl reads Asia/Kolkata and Europe/Brussels.
 */
export function isTimeZone(tz: string): boolean {
  if (tz.length === 0 || tz.length > 64) return false;
  if (!tz.includes('/') && tz.toUpperCase() !== 'UTC') return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Throws InvalidInputError TL_QUERY_BAD_TZ unless `tz` is a known IANA zone. */
export function checkTimeZone(tz: string): string {
  if (!isTimeZone(tz)) {
    throw new InvalidInputError('TL_QUERY_BAD_TZ', `tz "${tz}" is not an IANA time zone; use a name like "UTC" or "Europe/Berlin"`);
  }
  return tz;
}

export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The local wall-clock time of an instant in `tz` (milliseconds dropped). */
export function wallTimeOf(ms: number, tz: string): WallTime {
  const parts = formatter(tz).formatToParts(new Date(ms));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** The zone's offset from UTC at an instant, in ms (east positive). */
export function offsetMs(ms: number, tz: string): number {
  const w = wallTimeOf(ms, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * The instant a local wall time names in `tz`, read as Postgres reads `timestamp AT TIME ZONE`:
 * a time that happens twice (clocks set back) maps to its later occurrence, and a time skipped by
 * clocks set forward is read with the offset before the change. Fields overflow as Date.UTC lets them (month 13 is January of the next year).
 */
export function instantOf(w: Partial<WallTime> & { year: number; month: number }, tz: string): number {
  const wall = Date.UTC(w.year, w.month - 1, w.day ?? 1, w.hour ?? 0, w.minute ?? 0, w.second ?? 0);
  // Zone transitions are months apart, so the offsets a day either side are the only candidates.
  const offBefore = offsetMs(wall - DAY_MS, tz);
  const offAfter = offsetMs(wall + DAY_MS, tz);
  for (const t of [wall - offBefore, wall - offAfter].sort((a, b) => b - a)) {
    if (t + offsetMs(t, tz) === wall) return t;
  }
  // In a gap: read it with the offset before the jump (as Postgres does), which for a gap that
  // starts exactly at `wall` is the instant the clocks jumped.
  return wall - offBefore;
}

export type CalendarUnit = 'hour' | 'day' | 'week' | 'month';

/** The start of the local hour, day, ISO week (Monday) or month containing `ms`, in `tz`. */
export function startOf(unit: CalendarUnit, ms: number, tz: string): number {
  const w = wallTimeOf(ms, tz);
  switch (unit) {
    case 'hour': {
      // As Postgres date_trunc does below a day: truncate the local time but keep the offset of
      // `ms`, so each hour of a repeated (set back) hour is its own bucket and starts at or before `ms`.
      const off = offsetMs(ms, tz);
      return ms - (((ms + off) % HOUR_MS) + HOUR_MS) % HOUR_MS;
    }
    case 'day':
      return instantOf({ year: w.year, month: w.month, day: w.day }, tz);
    case 'week': {
      const weekday = (new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay() + 6) % 7; // Monday = 0
      return instantOf({ year: w.year, month: w.month, day: w.day - weekday }, tz);
    }
    case 'month':
      return instantOf({ year: w.year, month: w.month }, tz);
  }
}

/** The start of the next local unit after the one containing `ms`. */
export function startOfNext(unit: CalendarUnit, ms: number, tz: string): number {
  const start = startOf(unit, ms, tz);
  const w = wallTimeOf(start, tz);
  switch (unit) {
    case 'hour':
      return start + HOUR_MS;
    case 'day':
      return instantOf({ year: w.year, month: w.month, day: w.day + 1 }, tz);
    case 'week':
      return instantOf({ year: w.year, month: w.month, day: w.day + 7 }, tz);
    case 'month':
      return instantOf({ year: w.year, month: w.month + 1 }, tz);
  }
}
