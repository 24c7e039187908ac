import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, TraceLedgerError } from './errors.js';
import { checkTimeZone, instantOf, isTimeZone, offsetMs, startOf, startOfNext, wallTimeOf, type CalendarUnit, type WallTime } from './zoned.js';

const MIN_MS = 60_000;
const HOUR_MS = 60 * MIN_MS;
const ms = (iso: string): number => {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`bad test instant ${iso}`);
  return t;
};
const iso = (t: number): string => new Date(t).toISOString();

/** "2026-03-29 03:00:00" for a wall time, so failures read like a clock. */
function clock(w: WallTime): string {
  const p = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${p(w.year, 4)}-${p(w.month)}-${p(w.day)} ${p(w.hour)}:${p(w.minute)}:${p(w.second)}`;
}
const wall = (t: number, tz: string): string => clock(wallTimeOf(t, tz));

/** The wall time of a "YYYY-MM-DD HH:MM[:SS]" string. */
function parseWall(text: string): WallTime {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (m === null) throw new Error(`bad test wall time ${text}`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6] ?? 0) };
}
const instant = (text: string, tz: string): string => iso(instantOf(parseWall(text), tz));

/**
 * Offset changes of 2026 (tzdata), each as the instant of the change and the offsets just before
 * and from it, in minutes east of UTC.
 */
const TRANSITIONS: { tz: string; at: string; before: number; after: number }[] = [
  { tz: 'Europe/Berlin', at: '2026-03-29T01:00:00Z', before: 60, after: 120 },
  { tz: 'Europe/Berlin', at: '2026-10-25T01:00:00Z', before: 120, after: 60 },
  { tz: 'America/New_York', at: '2026-03-08T07:00:00Z', before: -300, after: -240 },
  { tz: 'America/New_York', at: '2026-11-01T06:00:00Z', before: -240, after: -300 },
  // Lord Howe Island moves its clocks by half an hour.
  { tz: 'Australia/Lord_Howe', at: '2026-04-04T15:00:00Z', before: 660, after: 630 },
  { tz: 'Australia/Lord_Howe', at: '2026-10-03T15:30:00Z', before: 630, after: 660 },
  // The Chatham Islands keep NZ's rules at a 45-minute offset.
  { tz: 'Pacific/Chatham', at: '2026-04-04T14:00:00Z', before: 825, after: 765 },
  { tz: 'Pacific/Chatham', at: '2026-09-26T14:00:00Z', before: 765, after: 825 },
  // Chile changes at local midnight: 00:00 back to 23:00, and 00:00 forward to 01:00.
  { tz: 'America/Santiago', at: '2026-04-05T03:00:00Z', before: -180, after: -240 },
  { tz: 'America/Santiago', at: '2026-09-06T04:00:00Z', before: -240, after: -180 },
];

describe('offsetMs', () => {
  it('is positive east of UTC and negative west of it', () => {
    const jan = ms('2026-01-15T12:00:00Z');
    const jul = ms('2026-07-15T12:00:00Z');
    const cases: [string, number, number][] = [
      ['UTC', 0, 0],
      ['Europe/Berlin', 60, 120],
      ['America/New_York', -300, -240],
      ['Asia/Kolkata', 330, 330],
      ['Asia/Kathmandu', 345, 345],
      ['Pacific/Chatham', 825, 765],
      ['Australia/Lord_Howe', 660, 630],
      ['America/Santiago', -180, -240],
      ['Pacific/Kiritimati', 840, 840],
      ['Pacific/Pago_Pago', -660, -660],
      // POSIX-style names invert the sign: Etc/GMT+5 is five hours west.
      ['Etc/GMT+5', -300, -300],
    ];
    for (const [tz, january, july] of cases) {
      expect(offsetMs(jan, tz), `${tz} in January`).toBe(january * MIN_MS);
      expect(offsetMs(jul, tz), `${tz} in July`).toBe(july * MIN_MS);
    }
  });

  it('switches at the exact instant of each 2026 transition', () => {
    for (const { tz, at, before, after } of TRANSITIONS) {
      const t = ms(at);
      expect(offsetMs(t - 1, tz), `${tz} just before ${at}`).toBe(before * MIN_MS);
      expect(offsetMs(t, tz), `${tz} at ${at}`).toBe(after * MIN_MS);
    }
  });

  it('is the difference between the wall clock and UTC, whatever the milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: ms('1990-01-01T00:00:00Z'), max: ms('2040-01-01T00:00:00Z') }), fc.constantFrom(...TRANSITIONS.map((t) => t.tz), 'Asia/Kathmandu'), (t, tz) => {
        const w = wallTimeOf(t, tz);
        const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
        expect(asUtc - offsetMs(t, tz)).toBe(t - (t % 1000));
      }),
    );
  });
});

describe('wallTimeOf', () => {
  it('reads the clock on both sides of each transition', () => {
    const cases: [string, string, string, string][] = [
      // tz, instant of change, clock 1 s before, clock at the change
      ['Europe/Berlin', '2026-03-29T01:00:00Z', '2026-03-29 01:59:59', '2026-03-29 03:00:00'],
      ['Europe/Berlin', '2026-10-25T01:00:00Z', '2026-10-25 02:59:59', '2026-10-25 02:00:00'],
      ['America/New_York', '2026-03-08T07:00:00Z', '2026-03-08 01:59:59', '2026-03-08 03:00:00'],
      ['America/New_York', '2026-11-01T06:00:00Z', '2026-11-01 01:59:59', '2026-11-01 01:00:00'],
      ['Australia/Lord_Howe', '2026-04-04T15:00:00Z', '2026-04-05 01:59:59', '2026-04-05 01:30:00'],
      ['Australia/Lord_Howe', '2026-10-03T15:30:00Z', '2026-10-04 01:59:59', '2026-10-04 02:30:00'],
      ['Pacific/Chatham', '2026-04-04T14:00:00Z', '2026-04-05 03:44:59', '2026-04-05 02:45:00'],
      ['Pacific/Chatham', '2026-09-26T14:00:00Z', '2026-09-27 02:44:59', '2026-09-27 03:45:00'],
      ['America/Santiago', '2026-04-05T03:00:00Z', '2026-04-04 23:59:59', '2026-04-04 23:00:00'],
      ['America/Santiago', '2026-09-06T04:00:00Z', '2026-09-05 23:59:59', '2026-09-06 01:00:00'],
    ];
    for (const [tz, at, before, after] of cases) {
      expect(wall(ms(at) - 1000, tz), `${tz} before ${at}`).toBe(before);
      expect(wall(ms(at), tz), `${tz} at ${at}`).toBe(after);
    }
  });

  it('reads fractional offsets and the far side of the date line', () => {
    expect(wall(ms('2026-06-30T18:29:59.999Z'), 'Asia/Kolkata')).toBe('2026-06-30 23:59:59');
    expect(wall(ms('2026-06-30T18:30:00Z'), 'Asia/Kolkata')).toBe('2026-07-01 00:00:00');
    expect(wall(ms('2026-06-30T18:15:00Z'), 'Asia/Kathmandu')).toBe('2026-07-01 00:00:00');
    expect(wall(ms('2026-12-31T10:00:00Z'), 'Pacific/Kiritimati')).toBe('2027-01-01 00:00:00');
    expect(wall(ms('2027-01-01T10:59:59Z'), 'Pacific/Pago_Pago')).toBe('2026-12-31 23:59:59');
    expect(wall(ms('2026-01-01T00:00:00Z'), 'UTC')).toBe('2026-01-01 00:00:00');
  });
});

describe('instantOf', () => {
  it('reads an ordinary local time with the offset in force then', () => {
    expect(instant('2026-01-15 12:00', 'Europe/Berlin')).toBe('2026-01-15T11:00:00.000Z');
    expect(instant('2026-07-15 12:00', 'Europe/Berlin')).toBe('2026-07-15T10:00:00.000Z');
    expect(instant('2026-07-01 00:00', 'Asia/Kolkata')).toBe('2026-06-30T18:30:00.000Z');
    expect(instant('2026-07-01 00:00', 'Asia/Kathmandu')).toBe('2026-06-30T18:15:00.000Z');
    expect(instant('2026-01-01 00:00', 'Pacific/Chatham')).toBe('2025-12-31T10:15:00.000Z');
    expect(instant('2026-07-01 00:00', 'Pacific/Chatham')).toBe('2026-06-30T11:15:00.000Z');
    expect(instant('2026-11-25 08:30:15', 'UTC')).toBe('2026-11-25T08:30:15.000Z');
  });

  it('reads a repeated local time (clocks set back) as its later occurrence, as Postgres does', () => {
    expect(instant('2026-10-25 02:30', 'Europe/Berlin')).toBe('2026-10-25T01:30:00.000Z'); // not 00:30Z (CEST)
    expect(instant('2026-10-25 02:00', 'Europe/Berlin')).toBe('2026-10-25T01:00:00.000Z');
    expect(instant('2026-11-01 01:30', 'America/New_York')).toBe('2026-11-01T06:30:00.000Z'); // EST, not EDT
    expect(instant('2026-04-05 01:45', 'Australia/Lord_Howe')).toBe('2026-04-04T15:15:00.000Z'); // +10:30, not +11
    expect(instant('2026-04-05 03:00', 'Pacific/Chatham')).toBe('2026-04-04T14:15:00.000Z'); // +12:45, not +13:45
    expect(instant('2026-04-04 23:30', 'America/Santiago')).toBe('2026-04-05T03:30:00.000Z'); // -04, not -03
  });

  it('reads a skipped local time (clocks set forward) with the offset from before the change, as Postgres does', () => {
    expect(instant('2026-03-29 02:30', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z'); // 03:30 CEST
    expect(instant('2026-03-29 02:00', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z'); // the change itself
    expect(instant('2026-03-08 02:30', 'America/New_York')).toBe('2026-03-08T07:30:00.000Z');
    expect(instant('2026-10-04 02:15', 'Australia/Lord_Howe')).toBe('2026-10-03T15:45:00.000Z'); // 02:45 LHDT
    expect(instant('2026-09-27 03:00', 'Pacific/Chatham')).toBe('2026-09-26T14:15:00.000Z'); // 04:00 CHADT
    // Chile's midnight never happens on 6 September; it is read as the 01:00 the clocks jumped to.
    expect(instant('2026-09-06 00:00', 'America/Santiago')).toBe('2026-09-06T04:00:00.000Z');
    expect(instant('2026-09-06 00:30', 'America/Santiago')).toBe('2026-09-06T04:30:00.000Z');
  });

  it('lets fields overflow as Date.UTC does', () => {
    expect(iso(instantOf({ year: 2026, month: 13 }, 'UTC'))).toBe('2027-01-01T00:00:00.000Z');
    expect(iso(instantOf({ year: 2026, month: 3, day: 0 }, 'Europe/Berlin'))).toBe('2026-02-27T23:00:00.000Z');
    expect(iso(instantOf({ year: 2026, month: 12, day: 32 }, 'America/New_York'))).toBe('2027-01-01T05:00:00.000Z');
  });

  it('gives back the same wall clock for any wall clock read off an instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: ms('1990-01-01T00:00:00Z'), max: ms('2040-01-01T00:00:00Z') }), fc.constantFrom(...TRANSITIONS.map((t) => t.tz), 'Asia/Kolkata'), (t, tz) => {
        const w = wallTimeOf(t, tz);
        const back = instantOf(w, tz);
        expect(wallTimeOf(back, tz)).toEqual(w);
        // Only a repeated hour can move it, and then only later, by the size of the change.
        expect(back - (t - (t % 1000))).toBeGreaterThanOrEqual(0);
        expect(back - (t - (t % 1000))).toBeLessThanOrEqual(HOUR_MS);
      }),
    );
  });
});

describe('startOf and startOfNext', () => {
  const span = (unit: CalendarUnit, at: string, tz: string): [string, string] => [iso(startOf(unit, ms(at), tz)), iso(startOfNext(unit, ms(at), tz))];

  it('cuts UTC into plain hours, days, Monday weeks and months', () => {
    expect(span('hour', '2026-11-25T12:34:56.789Z', 'UTC')).toEqual(['2026-11-25T12:00:00.000Z', '2026-11-25T13:00:00.000Z']);
    expect(span('day', '2026-11-25T12:34:56.789Z', 'UTC')).toEqual(['2026-11-25T00:00:00.000Z', '2026-11-26T00:00:00.000Z']);
    // 25 November 2026 is a Wednesday.
    expect(span('week', '2026-11-25T12:34:56.789Z', 'UTC')).toEqual(['2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
    expect(span('week', '2026-11-23T00:00:00Z', 'UTC')).toEqual(['2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
    expect(span('week', '2026-11-22T23:59:59.999Z', 'UTC')).toEqual(['2026-11-16T00:00:00.000Z', '2026-11-23T00:00:00.000Z']);
    // A week across the new year: Thursday 1 January 2026 is in the week of Monday 29 December.
    expect(span('week', '2026-01-01T12:00:00Z', 'UTC')).toEqual(['2025-12-29T00:00:00.000Z', '2026-01-05T00:00:00.000Z']);
    expect(span('month', '2026-12-31T23:59:59.999Z', 'UTC')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(span('month', '2024-02-29T12:00:00Z', 'UTC')).toEqual(['2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z']);
  });

  it('gives Berlin a 23-hour day and a 25-hour day, and weeks and months to match', () => {
    expect(span('day', '2026-03-29T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    expect(span('day', '2026-10-25T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z']);
    // Sunday 29 March ends the week of Monday 23 March (CET) and the next starts on 30 March (CEST).
    expect(span('week', '2026-03-29T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-03-22T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    expect(span('month', '2026-03-15T12:00:00Z', 'Europe/Berlin')).toEqual(['2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z']);
    expect(span('month', '2026-10-31T22:59:59.999Z', 'Europe/Berlin')).toEqual(['2026-09-30T22:00:00.000Z', '2026-10-31T23:00:00.000Z']);
    // 23:30 UTC on 31 March is already April in Berlin.
    expect(span('month', '2026-03-31T22:30:00Z', 'Europe/Berlin')).toEqual(['2026-03-31T22:00:00.000Z', '2026-04-30T22:00:00.000Z']);
  });

  it('gives New York its short and long days', () => {
    expect(span('day', '2026-03-08T12:00:00Z', 'America/New_York')).toEqual(['2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z']);
    expect(span('day', '2026-11-01T12:00:00Z', 'America/New_York')).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z']);
    // 02:00 UTC on 1 November is still 31 October in New York.
    expect(span('month', '2026-11-01T02:00:00Z', 'America/New_York')).toEqual(['2026-10-01T04:00:00.000Z', '2026-11-01T04:00:00.000Z']);
  });

  it('starts the Santiago day the clocks skip at 01:00, and makes the day before it 25 hours on the way back', () => {
    expect(span('day', '2026-09-06T12:00:00Z', 'America/Santiago')).toEqual(['2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z']);
    expect(wall(startOf('day', ms('2026-09-06T12:00:00Z'), 'America/Santiago'), 'America/Santiago')).toBe('2026-09-06 01:00:00');
    expect(span('day', '2026-04-04T12:00:00Z', 'America/Santiago')).toEqual(['2026-04-04T03:00:00.000Z', '2026-04-05T04:00:00.000Z']);
    // The repeated 23:00 hour belongs to 4 April both times.
    expect(span('day', '2026-04-05T03:30:00Z', 'America/Santiago')).toEqual(['2026-04-04T03:00:00.000Z', '2026-04-05T04:00:00.000Z']);
    // Monday 7 September 2026 starts a week; the week before holds the short Sunday.
    expect(span('week', '2026-09-06T12:00:00Z', 'America/Santiago')).toEqual(['2026-08-31T04:00:00.000Z', '2026-09-07T03:00:00.000Z']);
  });

  it('starts days at half- and quarter-hour offsets', () => {
    expect(span('day', '2026-06-30T18:29:59.999Z', 'Asia/Kolkata')).toEqual(['2026-06-29T18:30:00.000Z', '2026-06-30T18:30:00.000Z']);
    expect(span('day', '2026-06-30T18:30:00Z', 'Asia/Kolkata')).toEqual(['2026-06-30T18:30:00.000Z', '2026-07-01T18:30:00.000Z']);
    expect(span('month', '2026-06-30T18:20:00Z', 'Asia/Kathmandu')).toEqual(['2026-06-30T18:15:00.000Z', '2026-07-31T18:15:00.000Z']);
    expect(span('day', '2026-09-26T14:00:00Z', 'Pacific/Chatham')).toEqual(['2026-09-26T11:15:00.000Z', '2026-09-27T10:15:00.000Z']);
    expect(span('day', '2026-04-04T14:00:00Z', 'Pacific/Chatham')).toEqual(['2026-04-04T10:15:00.000Z', '2026-04-05T11:15:00.000Z']);
    expect(span('day', '2026-04-04T15:00:00Z', 'Australia/Lord_Howe')).toEqual(['2026-04-04T13:00:00.000Z', '2026-04-05T13:30:00.000Z']);
  });

  it('starts hours on the local hour, even at fractional offsets', () => {
    expect(span('hour', '2026-01-01T10:45:00Z', 'Asia/Kolkata')).toEqual(['2026-01-01T10:30:00.000Z', '2026-01-01T11:30:00.000Z']);
    expect(span('hour', '2026-01-01T10:14:59.999Z', 'Asia/Kolkata')).toEqual(['2026-01-01T09:30:00.000Z', '2026-01-01T10:30:00.000Z']);
    expect(span('hour', '2026-01-01T10:50:00Z', 'Asia/Kathmandu')).toEqual(['2026-01-01T10:15:00.000Z', '2026-01-01T11:15:00.000Z']);
    expect(span('hour', '2026-01-01T10:50:00Z', 'Pacific/Chatham')).toEqual(['2026-01-01T10:15:00.000Z', '2026-01-01T11:15:00.000Z']);
  });

  it('keeps each pass through a repeated hour its own hour, as Postgres date_trunc does', () => {
    // 02:30 CEST, then 02:30 CET an hour later.
    expect(span('hour', '2026-10-25T00:30:00Z', 'Europe/Berlin')).toEqual(['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z']);
    expect(span('hour', '2026-10-25T01:30:00Z', 'Europe/Berlin')).toEqual(['2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z']);
    expect(span('hour', '2026-11-01T05:59:59.999Z', 'America/New_York')).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z']);
    expect(span('hour', '2026-11-01T06:00:00Z', 'America/New_York')).toEqual(['2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z']);
    // The hour after a skipped one.
    expect(span('hour', '2026-03-29T01:00:00Z', 'Europe/Berlin')).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-29T02:00:00.000Z']);
    expect(span('hour', '2026-03-29T00:59:59.999Z', 'Europe/Berlin')).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T01:00:00.000Z']);
    // Lord Howe's half-hour step back: 01:40 (+10:30) truncates to 01:00 at +10:30, which the
    // clocks showed as 01:30 (+11). Postgres gives the same instant.
    expect(iso(startOf('hour', ms('2026-04-04T15:10:00Z'), 'Australia/Lord_Howe'))).toBe('2026-04-04T14:30:00.000Z');
    expect(iso(startOf('hour', ms('2026-04-04T14:50:00Z'), 'Australia/Lord_Howe'))).toBe('2026-04-04T14:00:00.000Z');
  });

  it('always contains the instant, and starts each day, week and month on its first local moment', () => {
    const zones = [...new Set(TRANSITIONS.map((t) => t.tz)), 'Asia/Kolkata', 'Asia/Kathmandu', 'UTC', 'Pacific/Kiritimati'];
    fc.assert(
      fc.property(
        // From 2000: Kiritimati skipped 31 December 1994 outright, a six-day week.
        fc.integer({ min: ms('2000-01-01T00:00:00Z'), max: ms('2040-01-01T00:00:00Z') }),
        fc.constantFrom(...zones),
        fc.constantFrom<CalendarUnit>('hour', 'day', 'week', 'month'),
        (t, tz, unit) => {
          const start = startOf(unit, t, tz);
          const next = startOfNext(unit, t, tz);
          expect(start).toBeLessThanOrEqual(t);
          expect(t).toBeLessThan(next);
          if (unit === 'hour') {
            expect(next - start).toBe(HOUR_MS);
            return;
          }
          expect(startOf(unit, start, tz)).toBe(start);
          expect(startOf(unit, next, tz)).toBe(next);
          // The millisecond before the start belongs to the unit before.
          expect(startOfNext(unit, start - 1, tz)).toBe(start);
          const w = wallTimeOf(start, tz);
          const before = wallTimeOf(start - 1, tz);
          expect(w.day === before.day && w.month === before.month).toBe(false);
          if (unit === 'week') expect(new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()).toBe(1);
          if (unit === 'month') expect(w.day).toBe(1);
          expect(next - start).toBeGreaterThanOrEqual({ day: 22, week: 166, month: 671 }[unit] * HOUR_MS);
          expect(next - start).toBeLessThanOrEqual({ day: 26, week: 170, month: 746 }[unit] * HOUR_MS);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('checkTimeZone', () => {
  it('accepts IANA Area/Location names and UTC', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'Asia/Kolkata', 'Asia/Calcutta']) {
      expect(checkTimeZone(tz)).toBe(tz);
      expect(isTimeZone(tz)).toBe(true);
    }
  });

  it('refuses unknown names, offsets and bare abbreviations with TL_QUERY_BAD_TZ, 400, naming tz', () => {
    // IST and CET are zones to Intl but abbreviations to Postgres (Israel +02, fixed +01), so
    // the same name would bucket differently in SQL; they are refused rather than misread.
    for (const bad of ['', 'Mars/Olympus_Mons', 'Europe/Berln', '+05:30', 'UTC+1', 'GMT+1', 'IST', 'CET', 'EST', 'GMT', 'Z', 'local', ' UTC', `Europe/${'x'.repeat(64)}`]) {
      expect(isTimeZone(bad), bad).toBe(false);
      let caught: unknown;
      try {
        checkTimeZone(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(InvalidInputError);
      const err = caught as TraceLedgerError;
      expect(err.code).toBe('TL_QUERY_BAD_TZ');
      expect(err.statusCode).toBeUndefined();
      expect(err.message).toContain(`tz ${JSON.stringify(bad)}`);
    }
  });
});
