import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, TraceLedgerError } from './errors.js';
import {
  BUCKETS,
  addUtcMonths,
  parseMonth,
  utcMonthOf,
  MAX_BUCKETS,
  PERIODS,
  calendarMonths,
  checkBucketRange,
  isPeriod,
  lastDays,
  lastUtcDays,
  parseBucket,
  parsePeriod,
  resolvePeriod,
  resolveRange,
  utcMonths,
  type Period,
  type RangeQuery,
} from './periods.js';
import { wallTimeOf } from './zoned.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const at = (iso: string): Date => new Date(iso);
const ROLLING: Record<Exclude<Period, 'all' | 'mtd'>, number> = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS };
const isRolling = (p: Period): p is Exclude<Period, 'all' | 'mtd'> => p in ROLLING;

/** The TraceLedgerError `fn` throws; fails the test when it throws something else or nothing. */
function thrown(fn: () => unknown, what: string): TraceLedgerError {
  try {
    fn();
  } catch (err) {
    expect(err, what).toBeInstanceOf(TraceLedgerError);
    return err as TraceLedgerError;
  }
  throw new Error(`expected ${what} to throw`);
}

/** Asserts a caller's error: an InvalidInputError (no HTTP status: the HTTP layer decides), not retriable, with the code and a message naming each of `names`. */
function expectClientError(fn: () => unknown, code: string, names: string[], what = names.join(' ')): TraceLedgerError {
  const err = thrown(fn, what);
  expect(err.code, what).toBe(code);
  expect(err, what).toBeInstanceOf(InvalidInputError);
  expect(err.statusCode, what).toBeUndefined();
  expect(err.retriable, what).toBe(false);
  for (const name of names) expect(err.message, what).toContain(name);
  return err;
}

/** Runs `fn` with the process in zones far east and far west of UTC, so local-time slips show. */
function inFarZones(fn: () => void): void {
  const saved = process.env['TZ'];
  try {
    for (const tz of ['Pacific/Kiritimati', 'Pacific/Pago_Pago', 'UTC']) {
      process.env['TZ'] = tz;
      fn();
    }
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
}

describe('resolvePeriod', () => {
  const now = at('2026-11-25T12:34:56.789Z');

  it('ends rolling periods just after now and starts them the period length before', () => {
    for (const [period, length] of Object.entries(ROLLING) as [Exclude<Period, 'all' | 'mtd'>, number][]) {
      const range = resolvePeriod(period, now);
      expect(range.to?.getTime()).toBe(now.getTime() + 1);
      expect(range.from?.getTime()).toBe(now.getTime() + 1 - length);
    }
    expect(resolvePeriod('24h', now).from).toEqual(at('2026-11-24T12:34:56.790Z'));
    // A rolling period is the same length in any zone.
    expect(resolvePeriod('7d', now, 'Europe/Berlin')).toEqual(resolvePeriod('7d', now));
  });

  it('is unbounded at both ends for "all"', () => {
    expect(resolvePeriod('all', now)).toEqual({ from: null, to: null });
    expect(resolvePeriod('all', now, 'America/New_York')).toEqual({ from: null, to: null });
  });

  it('starts "mtd" at the first of the month in the zone asked for', () => {
    expect(resolvePeriod('mtd', now)).toEqual({ from: at('2026-11-01T00:00:00Z'), to: at('2026-11-25T12:34:56.790Z') });
    // 02:00 UTC on 1 November is 22:00 on 31 October in New York (EDT).
    expect(resolvePeriod('mtd', at('2026-11-01T02:00:00Z'), 'America/New_York')).toEqual({
      from: at('2026-10-01T04:00:00Z'),
      to: at('2026-11-01T02:00:00.001Z'),
    });
    // 16:00 UTC on 31 October is already 1 November in Tokyo.
    expect(resolvePeriod('mtd', at('2026-10-31T16:00:00Z'), 'Asia/Tokyo').from).toEqual(at('2026-10-31T15:00:00Z'));
    // In Berlin March starts in winter time (+01:00) and April in summer time (+02:00).
    expect(resolvePeriod('mtd', at('2026-03-31T21:59:59.999Z'), 'Europe/Berlin').from).toEqual(at('2026-02-28T23:00:00Z'));
    expect(resolvePeriod('mtd', at('2026-03-31T22:00:00Z'), 'Europe/Berlin').from).toEqual(at('2026-03-31T22:00:00Z'));
    // On the first instant of a month, "mtd" holds exactly that millisecond.
    expect(resolvePeriod('mtd', at('2026-12-01T00:00:00Z'))).toEqual({ from: at('2026-12-01T00:00:00Z'), to: at('2026-12-01T00:00:00.001Z') });
  });

  it('holds now and the last period length of time, but not the millisecond before it', () => {
    fc.assert(
      fc.property(fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }), fc.constantFrom(...PERIODS), (t, period) => {
        const { from, to } = resolvePeriod(period, t);
        if (period === 'all') {
          expect(from).toBeNull();
          expect(to).toBeNull();
          return;
        }
        // Half-open [from, to): now is inside.
        expect(to?.getTime()).toBe(t.getTime() + 1);
        if (from === null || to === null) throw new Error(`${period} must be bounded`);
        const inside = (ms: number): boolean => from.getTime() <= ms && ms < to.getTime();
        expect(inside(t.getTime())).toBe(true);
        if (isRolling(period)) {
          expect(inside(t.getTime() - ROLLING[period] + 1)).toBe(true);
          expect(inside(t.getTime() - ROLLING[period])).toBe(false);
        } else {
          // mtd in UTC: from the first of this month.
          expect(from).toEqual(new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1)));
        }
      }),
    );
  });
});

describe('parsePeriod', () => {
  it('accepts every named period and falls back when absent or empty', () => {
    for (const p of PERIODS) expect(parsePeriod(p, '7d')).toBe(p);
    expect(parsePeriod(undefined, '30d')).toBe('30d');
    expect(parsePeriod('', '24h')).toBe('24h');
  });

  it('rejects anything else with TL_QUERY_BAD_PERIOD, 400, naming the parameter and the allowed values', () => {
    for (const bad of ['1y', '7D', ' 7d', '24', 'ALL', 'MTD', 'ytd', 'week', 'custom', '7d,30d']) {
      expectClientError(() => parsePeriod(bad, '7d'), 'TL_QUERY_BAD_PERIOD', [`period ${JSON.stringify(bad)}`, ...PERIODS, 'from/to'], bad);
    }
  });

  it('agrees with isPeriod', () => {
    expect(PERIODS).toEqual(['24h', '7d', '30d', '90d', 'mtd', 'all']);
    expect(isPeriod('mtd')).toBe(true);
    expect(isPeriod('90d')).toBe(true);
    expect(isPeriod('90')).toBe(false);
  });
});

describe('utcMonths', () => {
  it('gives this month and the one before as half-open UTC ranges', () => {
    expect(utcMonths(at('2026-11-25T12:00:00Z'))).toEqual({
      thisMonth: { from: at('2026-11-01T00:00:00Z'), to: at('2026-12-01T00:00:00Z') },
      lastMonth: { from: at('2026-10-01T00:00:00Z'), to: at('2026-11-01T00:00:00Z') },
    });
  });

  it('crosses year boundaries: in January last month is December of the year before', () => {
    expect(utcMonths(at('2026-01-15T08:00:00Z'))).toEqual({
      thisMonth: { from: at('2026-01-01T00:00:00Z'), to: at('2026-02-01T00:00:00Z') },
      lastMonth: { from: at('2025-12-01T00:00:00Z'), to: at('2026-01-01T00:00:00Z') },
    });
    expect(utcMonths(at('2025-12-31T23:59:59.999Z')).thisMonth).toEqual({ from: at('2025-12-01T00:00:00Z'), to: at('2026-01-01T00:00:00Z') });
  });

  it('follows UTC, not the local zone, at the edges of a month', () => {
    inFarZones(() => {
      // 00:30 on 1 March in UTC+01:00 is still February in UTC.
      expect(utcMonths(at('2024-03-01T00:30:00+01:00')).thisMonth).toEqual({ from: at('2024-02-01T00:00:00Z'), to: at('2024-03-01T00:00:00Z') });
      expect(utcMonths(at('2024-03-01T00:00:00Z')).lastMonth).toEqual({ from: at('2024-02-01T00:00:00Z'), to: at('2024-03-01T00:00:00Z') });
      expect(utcMonths(at('2025-12-31T23:30:00Z')).thisMonth.from).toEqual(at('2025-12-01T00:00:00Z'));
    });
  });

  it('always contains now in this month, and last month ends where this month starts', () => {
    fc.assert(
      fc.property(fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }), (now) => {
        const { thisMonth, lastMonth } = utcMonths(now);
        expect(thisMonth.from.getTime()).toBeLessThanOrEqual(now.getTime());
        expect(now.getTime()).toBeLessThan(thisMonth.to.getTime());
        expect(lastMonth.to).toEqual(thisMonth.from);
        expect(thisMonth.from.getUTCDate()).toBe(1);
        expect(lastMonth.from.getUTCDate()).toBe(1);
        expect(thisMonth.from.getUTCHours() + thisMonth.from.getUTCMinutes()).toBe(0);
        expect((thisMonth.from.getUTCMonth() + 11) % 12).toBe(lastMonth.from.getUTCMonth());
      }),
    );
  });
});

describe('lastUtcDays', () => {
  it('lists the last days oldest first, ending with today in UTC', () => {
    inFarZones(() => {
      expect(lastUtcDays(3, at('2026-01-01T05:00:00Z'))).toEqual(['2025-12-30', '2025-12-31', '2026-01-01']);
      expect(lastUtcDays(1, at('2026-11-25T23:59:59.999Z'))).toEqual(['2026-11-25']);
      expect(lastUtcDays(3, at('2024-03-01T00:00:00Z'))).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
      expect(lastUtcDays(0, at('2026-11-25T00:00:00Z'))).toEqual([]);
    });
  });

  it('has one entry per day, consecutive and distinct', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }), (days, now) => {
        const list = lastUtcDays(days, now);
        expect(list).toHaveLength(days);
        expect(list.at(-1)).toBe(now.toISOString().slice(0, 10));
        for (let i = 1; i < list.length; i++) {
          expect(Date.parse(`${list[i]}T00:00:00Z`) - Date.parse(`${list[i - 1]}T00:00:00Z`)).toBe(DAY_MS);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('resolveRange', () => {
  const now = at('2026-11-25T12:34:56.789Z');
  const resolve = (q: RangeQuery): ReturnType<typeof resolveRange> => resolveRange(q, now, '7d');

  it('falls back to the default period in UTC when nothing is asked for', () => {
    expect(resolveRange({}, now, '30d')).toEqual({ period: '30d', tz: 'UTC', ...resolvePeriod('30d', now) });
    // Empty query values count as absent.
    expect(resolve({ period: '', from: '', to: '', tz: '' })).toEqual({ period: '7d', tz: 'UTC', ...resolvePeriod('7d', now) });
  });

  it('resolves a named period in the zone asked for', () => {
    expect(resolve({ period: 'all', tz: 'Europe/Berlin' })).toEqual({ period: 'all', tz: 'Europe/Berlin', from: null, to: null });
    expect(resolve({ period: '24h', tz: 'Asia/Kolkata' })).toEqual({
      period: '24h',
      tz: 'Asia/Kolkata',
      from: at('2026-11-24T12:34:56.790Z'),
      to: at('2026-11-25T12:34:56.790Z'),
    });
  });

  it('starts mtd at local midnight on the first, in zones west and east of UTC', () => {
    expect(resolve({ period: 'mtd', tz: 'Asia/Kolkata' })).toEqual({ period: 'mtd', tz: 'Asia/Kolkata', from: at('2026-10-31T18:30:00Z'), to: at('2026-11-25T12:34:56.790Z') });
    // 06:59 UTC on 1 November is 23:59 on 31 October in Los Angeles (PDT): still October.
    const lateOctober = at('2026-11-01T06:59:59.999Z');
    expect(resolveRange({ period: 'mtd', tz: 'America/Los_Angeles' }, lateOctober, '7d')).toEqual({
      period: 'mtd',
      tz: 'America/Los_Angeles',
      from: at('2026-10-01T07:00:00Z'),
      to: at('2026-11-01T07:00:00Z'),
    });
    // A millisecond later it is November, which started in summer time (it ends at 09:00 UTC that day).
    expect(resolveRange({ period: 'mtd', tz: 'America/Los_Angeles' }, at('2026-11-01T07:00:00Z'), '7d').from).toEqual(at('2026-11-01T07:00:00Z'));
    expect(resolveRange({ period: 'mtd', tz: 'America/Los_Angeles' }, at('2026-11-25T12:00:00Z'), '7d').from).toEqual(at('2026-11-01T07:00:00Z'));
    // Far east: 10:15 UTC on 31 December is already 1 January in Kiritimati (+14).
    expect(resolveRange({ period: 'mtd', tz: 'Pacific/Kiritimati' }, at('2026-12-31T10:15:00Z'), '7d').from).toEqual(at('2026-12-31T10:00:00Z'));
  });

  it('reads a date as local midnight in tz', () => {
    expect(resolve({ from: '2026-11-01', to: '2026-12-01' })).toEqual({ period: 'custom', tz: 'UTC', from: at('2026-11-01T00:00:00Z'), to: at('2026-12-01T00:00:00Z') });
    // The day Berlin sets its clocks forward is 23 hours long.
    expect(resolve({ from: '2026-03-29', to: '2026-03-30', tz: 'Europe/Berlin' })).toEqual({
      period: 'custom',
      tz: 'Europe/Berlin',
      from: at('2026-03-28T23:00:00Z'),
      to: at('2026-03-29T22:00:00Z'),
    });
    expect(resolve({ from: '2026-11-01', to: '2026-11-02', tz: 'America/New_York' })).toMatchObject({ from: at('2026-11-01T04:00:00Z'), to: at('2026-11-02T05:00:00Z') });
    expect(resolve({ from: '2026-01-01', tz: 'Asia/Kathmandu' }).from).toEqual(at('2025-12-31T18:15:00Z'));
    expect(resolve({ from: '2026-01-01', tz: 'Pacific/Chatham' }).from).toEqual(at('2025-12-31T10:15:00Z'));
    // Chile has no midnight on 6 September 2026; the day starts at 01:00 (-03).
    expect(resolve({ from: '2026-09-06', tz: 'America/Santiago' }).from).toEqual(at('2026-09-06T04:00:00Z'));
    expect(resolve({ from: '2024-02-29', to: '2024-03-01' })).toMatchObject({ from: at('2024-02-29T00:00:00Z'), to: at('2024-03-01T00:00:00Z') });
  });

  it('reads an RFC 3339 time by its own offset, whatever tz says', () => {
    expect(resolve({ from: '2026-11-01T00:00:00+05:30', to: '2026-11-02T00:00:00.5Z', tz: 'America/New_York' })).toEqual({
      period: 'custom',
      tz: 'America/New_York',
      from: at('2026-10-31T18:30:00Z'),
      to: at('2026-11-02T00:00:00.500Z'),
    });
    expect(resolve({ from: '2026-11-01T00:00Z' }).from).toEqual(at('2026-11-01T00:00:00Z'));
    expect(resolve({ from: '2026-11-01t00:00:00z' }).from).toEqual(at('2026-11-01T00:00:00Z'));
    expect(resolve({ from: '2026-11-01T12:00:00.123456789-03:00' }).from).toEqual(at('2026-11-01T15:00:00.123Z'));
    // A date and a time mix.
    expect(resolve({ from: '2026-10-25', to: '2026-10-25T12:00:00Z', tz: 'Europe/Berlin' })).toMatchObject({ from: at('2026-10-24T22:00:00Z'), to: at('2026-10-25T12:00:00Z') });
  });

  it('leaves a bound that is not given open', () => {
    expect(resolve({ from: '2026-11-01' })).toEqual({ period: 'custom', tz: 'UTC', from: at('2026-11-01T00:00:00Z'), to: null });
    expect(resolve({ to: '2026-11-01', tz: 'Europe/Berlin' })).toEqual({ period: 'custom', tz: 'Europe/Berlin', from: null, to: at('2026-10-31T23:00:00Z') });
  });

  it('refuses a period together with from or to (TL_QUERY_BAD_RANGE, 400)', () => {
    const both: RangeQuery[] = [
      { period: '7d', from: '2026-11-01' },
      { period: 'all', to: '2026-11-01T00:00:00Z' },
      { period: 'mtd', from: '2026-11-01', to: '2026-11-02', tz: 'Europe/Berlin' },
    ];
    for (const q of both) expectClientError(() => resolve(q), 'TL_QUERY_BAD_RANGE', ['period', 'from/to'], JSON.stringify(q));
  });

  it('refuses from at or after to (TL_QUERY_BAD_RANGE, 400), naming both', () => {
    const bad: RangeQuery[] = [
      { from: '2026-11-02', to: '2026-11-01' },
      { from: '2026-11-01', to: '2026-11-01' },
      // The same instant written two ways.
      { from: '2026-11-01T01:00:00+01:00', to: '2026-11-01T00:00:00Z' },
      // Berlin's midnight on 1 November is 23:00 UTC the day before.
      { from: '2026-11-01', to: '2026-10-31T23:00:00Z', tz: 'Europe/Berlin' },
    ];
    for (const q of bad) {
      expectClientError(() => resolve(q), 'TL_QUERY_BAD_RANGE', ['from', 'to', q.from ?? '', q.to ?? ''], JSON.stringify(q));
    }
    // One millisecond apart is a range.
    expect(resolve({ from: '2026-11-01', to: '2026-10-31T23:00:00.001Z', tz: 'Europe/Berlin' }).to).toEqual(at('2026-10-31T23:00:00.001Z'));
  });

  it('refuses bounds that are not real dates or times with a zone (TL_QUERY_BAD_RANGE, 400), naming the bound', () => {
    const bad = [
      '2026-02-30',
      '2025-02-29',
      '2026-04-31',
      '2026-13-01',
      '2026-00-10',
      '2026-01-00',
      '2026-1-1',
      '26-01-01',
      '2026/01/01',
      '20260101',
      'yesterday',
      '1767225600000',
      ' 2026-01-01',
      '2026-01-01T00:00:00', // no zone
      '2026-01-01 00:00:00Z',
      '2026-01-01T00:00:00+0100',
      '2026-01-01T00:00:00[Europe/Berlin]',
      // Date.parse would roll these over into the next day or month.
      '2026-02-30T00:00:00Z',
      '2026-04-31T12:00:00+02:00',
      '2026-01-01T24:00:00Z',
      '2026-01-01T25:00:00Z',
      '2026-01-01T12:60:00Z',
      '2026-01-01T00:00:00+24:00',
    ];
    for (const value of bad) {
      for (const name of ['from', 'to'] as const) {
        expectClientError(() => resolve({ [name]: value, tz: 'Europe/Berlin' }), 'TL_QUERY_BAD_RANGE', [`${name} ${JSON.stringify(value)}`], `${name}=${value}`);
      }
    }
  });

  it('refuses an unknown tz (TL_QUERY_BAD_TZ, 400), naming tz, with a period or with bounds', () => {
    for (const tz of ['Mars/Olympus_Mons', 'Europe/Berln', '+05:30', 'IST', 'CET', 'GMT+1']) {
      for (const q of [{ tz }, { tz, period: 'mtd' }, { tz, from: '2026-11-01' }, { tz, from: '2026-11-01T00:00:00Z' }]) {
        expectClientError(() => resolve(q), 'TL_QUERY_BAD_TZ', [`tz ${JSON.stringify(tz)}`], JSON.stringify(q));
      }
    }
  });

  it('refuses an unknown period (TL_QUERY_BAD_PERIOD, 400), naming period', () => {
    expectClientError(() => resolve({ period: '1y', tz: 'Europe/Berlin' }), 'TL_QUERY_BAD_PERIOD', ['period "1y"']);
  });
});

describe('calendarMonths', () => {
  it('is utcMonths in UTC', () => {
    const now = at('2026-11-25T12:00:00Z');
    expect(calendarMonths(now)).toEqual(utcMonths(now));
    expect(calendarMonths(now, 'UTC')).toEqual(utcMonths(now));
  });

  it('gives the local months, with their DST offsets', () => {
    // 23:30 on 31 March UTC is 00:30 on 1 April in Berlin (CEST); March began in CET.
    expect(calendarMonths(at('2026-03-31T22:30:00Z'), 'Europe/Berlin')).toEqual({
      thisMonth: { from: at('2026-03-31T22:00:00Z'), to: at('2026-04-30T22:00:00Z') },
      lastMonth: { from: at('2026-02-28T23:00:00Z'), to: at('2026-03-31T22:00:00Z') },
    });
    // 03:00 UTC on 1 January is 22:00 on 31 December in New York; November began in EDT.
    expect(calendarMonths(at('2026-01-01T03:00:00Z'), 'America/New_York')).toEqual({
      thisMonth: { from: at('2025-12-01T05:00:00Z'), to: at('2026-01-01T05:00:00Z') },
      lastMonth: { from: at('2025-11-01T04:00:00Z'), to: at('2025-12-01T05:00:00Z') },
    });
    // The Chatham Islands: September starts at +12:45, October and November at +13:45.
    expect(calendarMonths(at('2026-10-15T00:00:00Z'), 'Pacific/Chatham')).toEqual({
      thisMonth: { from: at('2026-09-30T10:15:00Z'), to: at('2026-10-31T10:15:00Z') },
      lastMonth: { from: at('2026-08-31T11:15:00Z'), to: at('2026-09-30T10:15:00Z') },
    });
    expect(calendarMonths(at('2026-06-30T18:45:00Z'), 'Asia/Kathmandu').thisMonth).toEqual({ from: at('2026-06-30T18:15:00Z'), to: at('2026-07-31T18:15:00Z') });
  });

  it('always contains now in this month, and each month starts at the first local moment of its 1st', () => {
    fc.assert(
      fc.property(
        fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2040-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom('Europe/Berlin', 'America/New_York', 'America/Santiago', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kolkata', 'Pacific/Kiritimati'),
        (now, tz) => {
          const { thisMonth, lastMonth } = calendarMonths(now, tz);
          expect(thisMonth.from.getTime()).toBeLessThanOrEqual(now.getTime());
          expect(now.getTime()).toBeLessThan(thisMonth.to.getTime());
          expect(lastMonth.to).toEqual(thisMonth.from);
          for (const start of [lastMonth.from, thisMonth.from, thisMonth.to]) {
            expect(wallTimeOf(start.getTime(), tz).day).toBe(1);
            expect(wallTimeOf(start.getTime() - 1, tz).day).not.toBe(1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('lastDays', () => {
  const hours = (days: { start: Date; end: Date }[]): number[] => days.map((d) => (d.end.getTime() - d.start.getTime()) / HOUR_MS);

  it('lists local days oldest first, each from its start to the next', () => {
    expect(lastDays(3, at('2026-11-25T12:00:00Z'))).toEqual([
      { date: '2026-11-23', start: at('2026-11-23T00:00:00Z'), end: at('2026-11-24T00:00:00Z') },
      { date: '2026-11-24', start: at('2026-11-24T00:00:00Z'), end: at('2026-11-25T00:00:00Z') },
      { date: '2026-11-25', start: at('2026-11-25T00:00:00Z'), end: at('2026-11-26T00:00:00Z') },
    ]);
    expect(lastDays(3, at('2026-03-30T12:00:00Z'), 'Europe/Berlin')).toEqual([
      { date: '2026-03-28', start: at('2026-03-27T23:00:00Z'), end: at('2026-03-28T23:00:00Z') },
      { date: '2026-03-29', start: at('2026-03-28T23:00:00Z'), end: at('2026-03-29T22:00:00Z') },
      { date: '2026-03-30', start: at('2026-03-29T22:00:00Z'), end: at('2026-03-30T22:00:00Z') },
    ]);
    expect(lastDays(0, at('2026-11-25T12:00:00Z'), 'Europe/Berlin')).toEqual([]);
  });

  it('has a 23-hour day and a 25-hour day in Berlin, and 365 days in a year all the same', () => {
    expect(hours(lastDays(3, at('2026-03-30T12:00:00Z'), 'Europe/Berlin'))).toEqual([24, 23, 24]);
    expect(hours(lastDays(3, at('2026-10-26T12:00:00Z'), 'Europe/Berlin'))).toEqual([24, 25, 24]);
    const year = lastDays(365, at('2026-12-31T12:00:00Z'), 'Europe/Berlin');
    expect(year[0]?.date).toBe('2026-01-01');
    expect(year.filter((d) => d.end.getTime() - d.start.getTime() !== DAY_MS).map((d) => [d.date, (d.end.getTime() - d.start.getTime()) / HOUR_MS])).toEqual([
      ['2026-03-29', 23],
      ['2026-10-25', 25],
    ]);
    expect((year.at(-1)?.end.getTime() ?? 0) - (year[0]?.start.getTime() ?? 0)).toBe(365 * DAY_MS);
  });

  it('ends with the local day of now, not the UTC one', () => {
    // 23:00 UTC on 25 October is already 26 October in Berlin (CET).
    expect(lastDays(1, at('2026-10-25T22:59:59.999Z'), 'Europe/Berlin')[0]?.date).toBe('2026-10-25');
    expect(lastDays(1, at('2026-10-25T23:00:00Z'), 'Europe/Berlin')[0]?.date).toBe('2026-10-26');
    expect(lastDays(1, at('2026-01-01T04:59:59.999Z'), 'America/New_York')[0]?.date).toBe('2025-12-31');
    expect(lastDays(1, at('2025-12-31T10:00:00Z'), 'Pacific/Kiritimati')[0]?.date).toBe('2026-01-01');
    expect(lastDays(1, at('2026-06-30T18:30:00Z'), 'Asia/Kolkata')).toEqual([{ date: '2026-07-01', start: at('2026-06-30T18:30:00Z'), end: at('2026-07-01T18:30:00Z') }]);
  });

  it('starts the Santiago day that has no midnight at 01:00', () => {
    expect(lastDays(2, at('2026-09-06T12:00:00Z'), 'America/Santiago')).toEqual([
      { date: '2026-09-05', start: at('2026-09-05T04:00:00Z'), end: at('2026-09-06T04:00:00Z') },
      { date: '2026-09-06', start: at('2026-09-06T04:00:00Z'), end: at('2026-09-07T03:00:00Z') },
    ]);
    expect(hours(lastDays(2, at('2026-09-06T12:00:00Z'), 'America/Santiago'))).toEqual([24, 23]);
  });

  it('has the number of days asked for, contiguous, one per local date, the last holding now', () => {
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Santiago', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kathmandu'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2040-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom(...zones),
        (days, now, tz) => {
          const list = lastDays(days, now, tz);
          expect(list).toHaveLength(days);
          const last = list.at(-1);
          expect(last !== undefined && last.start.getTime() <= now.getTime() && now.getTime() < last.end.getTime()).toBe(true);
          for (const [i, d] of list.entries()) {
            const w = wallTimeOf(d.start.getTime(), tz);
            expect(d.date).toBe(`${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`);
            const length = d.end.getTime() - d.start.getTime();
            expect(length).toBeGreaterThanOrEqual(23 * HOUR_MS);
            expect(length).toBeLessThanOrEqual(25 * HOUR_MS);
            const prev = list[i - 1];
            if (prev !== undefined) {
              expect(prev.end).toEqual(d.start);
              expect(Date.parse(`${d.date}T00:00:00Z`) - Date.parse(`${prev.date}T00:00:00Z`)).toBe(DAY_MS);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('parseBucket', () => {
  it('accepts each bucket and falls back when absent or empty', () => {
    expect(BUCKETS).toEqual(['hour', 'day', 'week', 'month']);
    for (const b of BUCKETS) expect(parseBucket(b, 'day')).toBe(b);
    expect(parseBucket(undefined, 'hour')).toBe('hour');
    expect(parseBucket('', 'week')).toBe('week');
  });

  it('rejects anything else with TL_QUERY_BAD_BUCKET, 400, naming the parameter and the allowed values', () => {
    for (const bad of ['Hour', 'DAY', 'minute', 'year', 'quarter', '1h', 'days', ' day', 'day,week']) {
      expectClientError(() => parseBucket(bad, 'day'), 'TL_QUERY_BAD_BUCKET', [`bucket ${JSON.stringify(bad)}`, ...BUCKETS], bad);
    }
  });
});

describe('checkBucketRange', () => {
  const now = at('2026-11-25T12:34:56.789Z');
  const SIZE = { hour: HOUR_MS, day: DAY_MS, week: 7 * DAY_MS, month: 28 * DAY_MS } as const;

  it('refuses a series without a start (TL_QUERY_RANGE_TOO_LARGE, 400), naming from and period', () => {
    for (const bucket of BUCKETS) {
      expectClientError(() => checkBucketRange(resolvePeriod('all', now), bucket, now), 'TL_QUERY_RANGE_TOO_LARGE', ['from', 'period', bucket], bucket);
      expectClientError(() => checkBucketRange({ from: null, to: at('2026-11-01T00:00:00Z') }, bucket, now), 'TL_QUERY_RANGE_TOO_LARGE', ['from', 'period'], bucket);
    }
  });

  it('closes an open end just after now and keeps a closed one', () => {
    const from = at('2026-11-20T00:00:00Z');
    expect(checkBucketRange({ from, to: null }, 'day', now)).toEqual({ from, to: at('2026-11-25T12:34:56.790Z') });
    expect(checkBucketRange({ from, to: at('2026-11-21T00:00:00Z') }, 'hour', now)).toEqual({ from, to: at('2026-11-21T00:00:00Z') });
  });

  it(`allows ${MAX_BUCKETS} buckets and refuses more (TL_QUERY_RANGE_TOO_LARGE, 400), naming bucket`, () => {
    expect(MAX_BUCKETS).toBe(1000);
    const from = at('2020-01-01T00:00:00Z');
    for (const bucket of BUCKETS) {
      // A month is counted as 28 days, so the estimate never counts too few.
      const edge = from.getTime() + MAX_BUCKETS * SIZE[bucket];
      expect(checkBucketRange({ from, to: new Date(edge) }, bucket, now).to).toEqual(new Date(edge));
      expectClientError(() => checkBucketRange({ from, to: new Date(edge + 1) }, bucket, now), 'TL_QUERY_RANGE_TOO_LARGE', ['bucket', String(MAX_BUCKETS), `1001 ${bucket}`], bucket);
    }
  });

  it('fits the named periods a dashboard uses, but not 90 days of hours', () => {
    const ok: [Period, (typeof BUCKETS)[number]][] = [['24h', 'hour'], ['7d', 'hour'], ['30d', 'hour'], ['mtd', 'hour'], ['90d', 'day'], ['90d', 'week']];
    for (const [period, bucket] of ok) expect(() => checkBucketRange(resolvePeriod(period, now), bucket, now), `${period} by ${bucket}`).not.toThrow();
    expectClientError(() => checkBucketRange(resolvePeriod('90d', now), 'hour', now), 'TL_QUERY_RANGE_TOO_LARGE', ['2160 hour buckets']);
    // An open-ended custom range is closed at now before it is counted.
    expectClientError(() => checkBucketRange({ from: at('2026-09-01T00:00:00Z'), to: null }, 'hour', now), 'TL_QUERY_RANGE_TOO_LARGE', ['bucket']);
  });
});

describe('UTC months (the ledger partitions by them)', () => {
  it('names an instant\'s month by its first day, adds months across years, and parses YYYY-MM only', () => {
    expect(utcMonthOf(Date.parse('2026-07-31T23:59:59.999Z'))).toBe('2026-07-01');
    expect(utcMonthOf(Date.parse('2026-08-01T00:00:00Z'))).toBe('2026-08-01');
    expect(addUtcMonths('2026-11-01', 2)).toBe('2027-01-01');
    expect(addUtcMonths('2026-01-01', -1)).toBe('2025-12-01');
    expect(parseMonth('2026-08')).toBe('2026-08-01');
    for (const bad of ['2026-13', '2026-00', '2026-8', '2026-08-01', ' 2026-08', 'august']) {
      expect(() => parseMonth(bad), bad).toThrow(InvalidInputError);
    }
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('1970-01-01T00:00:00Z'), max: Date.parse('2999-12-31T00:00:00Z') }), fc.integer({ min: -240, max: 240 }), (ms, n) => {
        const m = utcMonthOf(ms);
        expect(parseMonth(m.slice(0, 7))).toBe(m);
        expect(addUtcMonths(addUtcMonths(m, n), -n)).toBe(m);
      }),
    );
  });
});
