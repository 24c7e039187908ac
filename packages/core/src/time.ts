import { TraceLedgerError } from './errors.js';

/**
 * The one parser of written times in traceledger: RFC 3339 date-times with a zone (the event
 * contract, the price book, the query API, the CLI) and bare dates (YYYY-MM-DD), whose meaning each
 * caller states. It never goes through Date.parse, which reads a zone-less time in the server's
 * zone, accepts free text ("May 13 2024", "1") and rolls an impossible day over ("2026-02-30"
 * becomes 2 March). Errors are domain errors without an HTTP status; callers wrap them in their
 * own codes and messages.
 */

/** Codes of the errors this parser throws. */
export const TimeErrorCode = {
  /** The text has neither the shape of a date nor that of an RFC 3339 time with a zone. */
  BadFormat: 'TL_TIME_BAD_FORMAT',
  /** A date in the right shape that names no day (30 February, month 13). */
  NoSuchDate: 'TL_TIME_NO_SUCH_DATE',
  /** A time in the right shape that names no instant (an impossible day, hour 24, minute 60, offset +24:00). */
  NoSuchTime: 'TL_TIME_NO_SUCH_TIME',
} as const;
export type TimeErrorCode = (typeof TimeErrorCode)[keyof typeof TimeErrorCode];

/** A day of the proleptic Gregorian calendar; month 1-12. */
export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// RFC 3339 section 5.6: full-date "T" partial-time time-offset; "T" and "Z" may be lower case.
// Seconds are optional only where people type times (`parseTimeOrDate`), not on the wire.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const INSTANT_EXAMPLE = 'an RFC 3339 time with a zone, like "2026-11-25T12:00:00Z" or "2026-11-25T13:00:00.250+01:00"';
const DAY_MS = 86_400_000;

/**
 * Parses an RFC 3339 date-time with a zone (seconds required, up to 9 fractional digits, which are
 * truncated to the millisecond) into epoch milliseconds. Throws TraceLedgerError
 * TL_TIME_BAD_FORMAT or TL_TIME_NO_SUCH_TIME with a message saying what was expected.
 */
export function parseInstant(text: string): number {
  const ms = dateTime(text, true);
  if (ms === null) throw new TraceLedgerError(TimeErrorCode.BadFormat, `${quote(text)} is not ${INSTANT_EXAMPLE}`);
  return ms;
}

/**
 * Parses a time as people type it: a bare date `YYYY-MM-DD`, which `dateMeans` turns into an
 * instant (UTC midnight for the CLI and the price book, local midnight in a zone for the query
 * API), or an RFC 3339 time with a zone whose seconds may be left out ("2026-11-25T09:30Z").
 * Returns epoch milliseconds. Throws TraceLedgerError TL_TIME_BAD_FORMAT, TL_TIME_NO_SUCH_DATE or
 * TL_TIME_NO_SUCH_TIME with a message saying what was expected.
 */
export function parseTimeOrDate(text: string, dateMeans: (date: CalendarDate) => number): number {
  if (DATE.test(text)) return dateMeans(parseDate(text));
  const ms = dateTime(text, false);
  if (ms === null) {
    throw new TraceLedgerError(TimeErrorCode.BadFormat, `${quote(text)} is neither a date like "2026-11-25" nor ${INSTANT_EXAMPLE}`);
  }
  return ms;
}

/** Parses a bare date `YYYY-MM-DD` on a real calendar day. Throws TL_TIME_BAD_FORMAT or TL_TIME_NO_SUCH_DATE. */
export function parseDate(text: string): CalendarDate {
  const m = DATE.exec(text);
  if (m === null) throw new TraceLedgerError(TimeErrorCode.BadFormat, `${quote(text)} is not a date like "2026-11-25"`);
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const why = impossibleDay(date);
  if (why !== null) throw new TraceLedgerError(TimeErrorCode.NoSuchDate, `${quote(text)} is not a real date: ${why}`);
  return date;
}

/** The instant of UTC midnight at the start of `date`, in epoch milliseconds. */
export function utcMidnight(date: CalendarDate): number {
  return daysFromCivil(date) * DAY_MS;
}

/** The epoch ms of a date-time, null when the shape is wrong; throws TL_TIME_NO_SUCH_TIME for an impossible one. */
function dateTime(text: string, secondsRequired: boolean): number | null {
  const m = DATE_TIME.exec(text);
  if (m === null || (secondsRequired && m[6] === undefined)) return null;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6] ?? '0')];
  const fraction = m[7] ?? '';
  const zoneSign = m[9] === '-' ? -1 : 1;
  const [zoneHour, zoneMinute] = m[8] !== undefined ? [0, 0] : [Number(m[10]), Number(m[11])];
  const why =
    impossibleDay(date) ??
    (hour > 23 ? `hour ${m[4]} is not 00-23` : null) ??
    (minute > 59 ? `minute ${m[5]} is not 00-59` : null) ??
    // A leap second (:60) has no epoch millisecond of its own, and no clock traceledger reads emits one.
    (second > 59 ? `second ${m[6]} is not 00-59` : null) ??
    (zoneHour > 23 || zoneMinute > 59 ? `offset ${m[9]}${m[10]}:${m[11]} is not between -23:59 and +23:59` : null);
  if (why !== null) throw new TraceLedgerError(TimeErrorCode.NoSuchTime, `${quote(text)} is not a real time: ${why}`);
  const wallMs = utcMidnight(date) + ((hour * 60 + minute) * 60 + second) * 1000 + Number(fraction.padEnd(3, '0').slice(0, 3));
  return wallMs - zoneSign * (zoneHour * 60 + zoneMinute) * 60_000;
}

/** Why a year, month and day name no day of the calendar, or null when they do. */
function impossibleDay({ year, month, day }: CalendarDate): string | null {
  if (month < 1 || month > 12) return `month ${String(month).padStart(2, '0')} is not 01-12`;
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) return `${MONTHS[month - 1]} ${year} has ${days} days`;
  return null;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil), exact for
// every four-digit year; Date.UTC would read years 0-99 as 1900-1999.
function daysFromCivil({ year, month, day }: CalendarDate): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The text as JSON, cut short so a huge value is never echoed whole. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
