import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceLedgerError } from './errors.js';
import { TimeErrorCode, parseDate, parseInstant, parseTimeOrDate, utcMidnight, type CalendarDate } from './time.js';
import { instantOf } from './zoned.js';

/** The instant of a UTC wall time, for any year (Date.UTC reads years 0-99 as 1900-1999). */
function utc(year: number, month: number, day: number, h = 0, m = 0, s = 0, ms = 0): number {
  const d = new Date(Date.UTC(2000, month - 1, day, h, m, s, ms));
  d.setUTCFullYear(year);
  return d.getTime();
}

function failure(f: () => unknown): TraceLedgerError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TraceLedgerError);
    return err as TraceLedgerError;
  }
  throw new Error('expected a TraceLedgerError');
}

describe('parseInstant (RFC 3339, zone required)', () => {
  it.each([
    ['2026-11-25T12:00:00Z', utc(2026, 11, 25, 12)],
    ['2026-11-25t12:00:00z', utc(2026, 11, 25, 12)],
    ['2026-11-25T13:00:00+01:00', utc(2026, 11, 25, 12)],
    ['2026-11-25T06:30:00-05:30', utc(2026, 11, 25, 12)],
    ['2026-11-25T12:00:00-00:00', utc(2026, 11, 25, 12)],
    ['2026-11-25T23:59:00+23:59', utc(2026, 11, 25, 0, 0)],
    ['2026-11-25T00:00:00-23:59', utc(2026, 11, 25, 23, 59)],
    ['2026-11-25T12:00:00.5Z', utc(2026, 11, 25, 12, 0, 0, 500)],
    ['2026-11-25T12:00:00.05Z', utc(2026, 11, 25, 12, 0, 0, 50)],
    ['2026-11-25T12:00:00.123Z', utc(2026, 11, 25, 12, 0, 0, 123)],
    // Beyond milliseconds, digits are truncated, as Date.parse does.
    ['2026-11-25T12:00:00.1239Z', utc(2026, 11, 25, 12, 0, 0, 123)],
    ['2026-11-25T12:00:00.999999999Z', utc(2026, 11, 25, 12, 0, 0, 999)],
    ['2026-11-25T12:00:00.000000001+01:00', utc(2026, 11, 25, 11)],
    // Leap years: every fourth, not centuries, but every fourth century.
    ['2024-02-29T00:00:00Z', utc(2024, 2, 29)],
    ['2000-02-29T00:00:00Z', utc(2000, 2, 29)],
    ['2400-02-29T23:59:59Z', utc(2400, 2, 29, 23, 59, 59)],
    ['2026-12-31T23:59:59.999Z', utc(2026, 12, 31, 23, 59, 59, 999)],
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59.999Z', -1],
    // Every four-digit year, including 0000-0099 that Date.UTC would move to 1900-1999.
    ['0000-01-01T00:00:00Z', utc(0, 1, 1)],
    ['0000-02-29T00:00:00Z', utc(0, 2, 29)],
    ['0099-12-31T00:00:00Z', utc(99, 12, 31)],
    ['9999-12-31T23:59:59.999Z', utc(9999, 12, 31, 23, 59, 59, 999)],
  ])('%s', (text, ms) => {
    expect(parseInstant(text)).toBe(ms);
  });

  it.each([
    // shape: BadFormat
    ['2026-11-25T12:00:00', TimeErrorCode.BadFormat, 'no zone'],
    ['2026-11-25T12:00Z', TimeErrorCode.BadFormat, 'no seconds'],
    ['2026-11-25', TimeErrorCode.BadFormat, 'a date alone'],
    ['2026-11-25 12:00:00Z', TimeErrorCode.BadFormat, 'a space for T'],
    ['2026-11-25T12:00:00.Z', TimeErrorCode.BadFormat, 'a point without digits'],
    ['2026-11-25T12:00:00.1234567890Z', TimeErrorCode.BadFormat, 'ten fractional digits'],
    ['2026-11-25T12:00:00,5Z', TimeErrorCode.BadFormat, 'a decimal comma'],
    ['2026-11-25T12:00:00+0100', TimeErrorCode.BadFormat, 'an offset without a colon'],
    ['2026-11-25T12:00:00+01', TimeErrorCode.BadFormat, 'an offset without minutes'],
    ['2026-11-25T12:00:00 Z', TimeErrorCode.BadFormat, 'a space before the zone'],
    ['2026-11-25T12:00:00Z ', TimeErrorCode.BadFormat, 'a trailing space'],
    [' 2026-11-25T12:00:00Z', TimeErrorCode.BadFormat, 'a leading space'],
    ['2026-11-25T12:00:00Z[Europe/Berlin]', TimeErrorCode.BadFormat, 'a bracketed zone'],
    ['2026-11-25T12:00:00UTC', TimeErrorCode.BadFormat, 'UTC for Z'],
    ['2026-11-25T12:00:00\u221201:00', TimeErrorCode.BadFormat, 'a Unicode minus'],
    ['+02026-11-25T12:00:00Z', TimeErrorCode.BadFormat, 'an expanded year'],
    ['26-11-25T12:00:00Z', TimeErrorCode.BadFormat, 'a two-digit year'],
    ['2026-1-25T12:00:00Z', TimeErrorCode.BadFormat, 'a one-digit month'],
    ['\uff12\uff10\uff12\uff16-11-25T12:00:00Z', TimeErrorCode.BadFormat, 'full-width digits'],
    ['1764072000000', TimeErrorCode.BadFormat, 'epoch milliseconds'],
    ['Nov 25 2026 12:00 GMT', TimeErrorCode.BadFormat, 'free text Date.parse reads'],
    ['', TimeErrorCode.BadFormat, 'nothing'],
    // right shape, no such instant: NoSuchTime
    ['2026-02-29T00:00:00Z', TimeErrorCode.NoSuchTime, '29 February of a common year'],
    ['1900-02-29T00:00:00Z', TimeErrorCode.NoSuchTime, '29 February of a century'],
    ['2026-02-30T00:00:00Z', TimeErrorCode.NoSuchTime, '30 February'],
    ['2026-04-31T00:00:00Z', TimeErrorCode.NoSuchTime, '31 April'],
    ['2026-11-00T00:00:00Z', TimeErrorCode.NoSuchTime, 'day 0'],
    ['2026-11-32T00:00:00Z', TimeErrorCode.NoSuchTime, 'day 32'],
    ['2026-00-10T00:00:00Z', TimeErrorCode.NoSuchTime, 'month 0'],
    ['2026-13-01T00:00:00Z', TimeErrorCode.NoSuchTime, 'month 13'],
    ['2026-11-25T24:00:00Z', TimeErrorCode.NoSuchTime, 'hour 24'],
    ['2026-11-25T12:60:00Z', TimeErrorCode.NoSuchTime, 'minute 60'],
    ['2026-12-31T23:59:60Z', TimeErrorCode.NoSuchTime, 'a leap second'],
    ['2026-11-25T12:00:00+24:00', TimeErrorCode.NoSuchTime, 'offset +24:00'],
    ['2026-11-25T12:00:00-05:60', TimeErrorCode.NoSuchTime, 'offset minute 60'],
  ])('%s: %s (%s)', (text, code, what) => {
    const err = failure(() => parseInstant(text));
    expect(err.code, what).toBe(code);
    // A domain error: no HTTP status, not retriable, and it says what it read and what it expected.
    expect(err.statusCode).toBeUndefined();
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(JSON.stringify(text));
    if (code === TimeErrorCode.BadFormat) expect(err.message).toMatch(/RFC 3339 time with a zone, like "2026-11-25T12:00:00Z"/);
    else expect(err.message).toMatch(/is not a real time: /);
  });

  it('says why a time is not real', () => {
    expect(failure(() => parseInstant('2026-02-29T00:00:00Z')).message).toBe('"2026-02-29T00:00:00Z" is not a real time: February 2026 has 28 days');
    expect(failure(() => parseInstant('2026-11-25T24:00:00Z')).message).toMatch(/hour 24 is not 00-23/);
    expect(failure(() => parseInstant('2026-13-01T00:00:00Z')).message).toMatch(/month 13 is not 01-12/);
  });

  it('never echoes a huge value whole', () => {
    expect(failure(() => parseInstant('9'.repeat(100_000))).message.length).toBeLessThan(200);
  });

  it('agrees with toISOString for any instant of years 0000-9999, at any offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: utc(0, 1, 1), max: utc(9999, 12, 31, 23, 59, 59, 999) }), fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), (ms, offsetMin) => {
        const iso = new Date(ms).toISOString();
        expect(parseInstant(iso)).toBe(ms);
        // The same instant written in another offset: local wall time plus the offset.
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
        const abs = Math.abs(offsetMin);
        const zone = `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        if (local.startsWith('-') || local.startsWith('+')) return; // the wall time fell outside 0000-9999
        expect(parseInstant(`${local}${zone}`)).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseTimeOrDate (what people type)', () => {
  const midnightIn = (tz: string) => (d: CalendarDate) => instantOf(d, tz);

  it('reads a bare date as the caller says: UTC midnight, or local midnight in a zone', () => {
    expect(parseTimeOrDate('2026-03-01', utcMidnight)).toBe(utc(2026, 3, 1));
    expect(parseTimeOrDate('2026-03-01', midnightIn('Asia/Kolkata'))).toBe(utc(2026, 2, 28, 18, 30));
    expect(parseTimeOrDate('2024-02-29', midnightIn('America/New_York'))).toBe(utc(2024, 2, 29, 5));
    const seen: CalendarDate[] = [];
    parseTimeOrDate('2026-11-05', (d) => {
      seen.push(d);
      return 0;
    });
    expect(seen).toEqual([{ year: 2026, month: 11, day: 5 }]);
  });

  it('reads a time by its own offset, whatever the date rule, and lets seconds be left out', () => {
    expect(parseTimeOrDate('2026-11-25T13:00:00+01:00', midnightIn('Asia/Tokyo'))).toBe(utc(2026, 11, 25, 12));
    expect(parseTimeOrDate('2026-11-25T09:30Z', utcMidnight)).toBe(utc(2026, 11, 25, 9, 30));
    expect(parseTimeOrDate('2026-11-25t09:30+05:30', utcMidnight)).toBe(utc(2026, 11, 25, 4));
  });

  it.each([
    ['2026-02-30', TimeErrorCode.NoSuchDate, /is not a real date: February 2026 has 28 days/],
    ['2025-02-29', TimeErrorCode.NoSuchDate, /February 2025 has 28 days/],
    ['2100-02-29', TimeErrorCode.NoSuchDate, /February 2100 has 28 days/],
    ['2026-04-31', TimeErrorCode.NoSuchDate, /April 2026 has 30 days/],
    ['2026-13-01', TimeErrorCode.NoSuchDate, /month 13/],
    ['2026-00-01', TimeErrorCode.NoSuchDate, /month 00/],
    ['2026-01-00', TimeErrorCode.NoSuchDate, /January 2026 has 31 days/],
    ['2026-02-30T00:00:00Z', TimeErrorCode.NoSuchTime, /is not a real time/],
    ['2026-02-28T24:00Z', TimeErrorCode.NoSuchTime, /hour 24/],
    ['2026-02-28T12:00', TimeErrorCode.BadFormat, /neither a date like "2026-11-25" nor an RFC 3339 time with a zone/],
    ['2026-2-28', TimeErrorCode.BadFormat, /neither a date/],
    ['20260228', TimeErrorCode.BadFormat, /neither a date/],
    ['2026/02/28', TimeErrorCode.BadFormat, /neither a date/],
    ['yesterday', TimeErrorCode.BadFormat, /neither a date/],
    ['1', TimeErrorCode.BadFormat, /neither a date/],
    ['2026-02-28T12Z', TimeErrorCode.BadFormat, /neither a date/],
  ])('%s: %s', (text, code, message) => {
    const err = failure(() => parseTimeOrDate(text, utcMidnight));
    expect([err.code, err.statusCode]).toEqual([code, undefined]);
    expect(err.message).toMatch(message);
  });
});

describe('parseDate and utcMidnight', () => {
  it('parses real days only', () => {
    expect(parseDate('2024-02-29')).toEqual({ year: 2024, month: 2, day: 29 });
    expect(failure(() => parseDate('2023-02-29')).code).toBe(TimeErrorCode.NoSuchDate);
    expect(failure(() => parseDate('2023-02-28T00:00:00Z')).code).toBe(TimeErrorCode.BadFormat);
  });

  it('is UTC midnight of every day of years 0000-9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (year, month, day) => {
        const text = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
        const real = new Date(utc(year, month, day)).getUTCDate() === day;
        if (!real) {
          expect(failure(() => parseDate(text)).code).toBe(TimeErrorCode.NoSuchDate);
          return;
        }
        expect(utcMidnight(parseDate(text))).toBe(utc(year, month, day));
      }),
      { numRuns: 3000 },
    );
  });
});
