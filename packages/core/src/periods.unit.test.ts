import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceLedgerError } from './errors.js';
import { PERIODS, isPeriod, lastUtcDays, parsePeriod, resolvePeriod, utcMonths, type Period } from './periods.js';

const DAY_MS = 86_400_000;
const at = (iso: string): Date => new Date(iso);

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

  it('ends just after now and starts the period length before', () => {
    const lengths: Record<Exclude<Period, 'all'>, number> = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS };
    for (const [period, length] of Object.entries(lengths) as [Exclude<Period, 'all'>, number][]) {
      const range = resolvePeriod(period, now);
      expect(range.to.getTime()).toBe(now.getTime() + 1);
      expect(range.from?.getTime()).toBe(now.getTime() + 1 - length);
    }
    expect(resolvePeriod('24h', now).from).toEqual(at('2026-11-24T12:34:56.790Z'));
  });

  it('has no start for "all"', () => {
    expect(resolvePeriod('all', now)).toEqual({ from: null, to: at('2026-11-25T12:34:56.790Z') });
  });

  it('holds now and the last period length of time, but not the millisecond before it', () => {
    fc.assert(
      fc.property(fc.date({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }), fc.constantFrom(...PERIODS), (t, period) => {
        const { from, to } = resolvePeriod(period, t);
        // Half-open [from, to): now is inside.
        expect(t.getTime()).toBeLessThan(to.getTime());
        if (from === null) return;
        const length = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS }[period as Exclude<Period, 'all'>];
        const inside = (ms: number): boolean => from.getTime() <= ms && ms < to.getTime();
        expect(inside(t.getTime() - length + 1)).toBe(true);
        expect(inside(t.getTime() - length)).toBe(false);
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

  it('rejects anything else with TL_QUERY_BAD_PERIOD, 400, naming the allowed values', () => {
    for (const bad of ['1y', '7D', ' 7d', '24', 'ALL', 'week', '7d,30d']) {
      let caught: unknown;
      try {
        parsePeriod(bad, '7d');
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(TraceLedgerError);
      const err = caught as TraceLedgerError;
      expect(err.code).toBe('TL_QUERY_BAD_PERIOD');
      expect(err.statusCode).toBe(400);
      expect(err.retriable).toBe(false);
      expect(err.message).toContain(JSON.stringify(bad));
      for (const p of PERIODS) expect(err.message).toContain(p);
    }
  });

  it('agrees with isPeriod', () => {
    expect(PERIODS).toEqual(['24h', '7d', '30d', '90d', 'all']);
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
