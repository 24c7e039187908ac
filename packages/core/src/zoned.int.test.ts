import { randomInt } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { instantOf, isTimeZone, offsetMs, startOf, startOfNext, type CalendarUnit, type WallTime } from './zoned.js';
import { seededRandom } from './random.js';

/**
 * Postgres is the reference for zone arithmetic: the query service buckets with
 * date_trunc(unit, started_at, tz) and reads local bounds with AT TIME ZONE, so startOf and
 * instantOf must give the very same instants, DST transitions included.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const UNITS: CalendarUnit[] = ['hour', 'day', 'week', 'month'];

// Whole-hour, half-hour and 45-minute offsets and DST steps; changes at local midnight (Santiago,
// Havana); negative DST (Dublin, Casablanca, which also stops DST for Ramadan); offsets changed for
// good (Moscow 2011 and 2014, Tehran 2022); a skipped calendar day (Apia, 29 December 2011).
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'Europe/London',
  'Europe/Dublin',
  'Europe/Moscow',
  'America/New_York',
  'America/Los_Angeles',
  'America/St_Johns',
  'America/Santiago',
  'America/Havana',
  'Australia/Lord_Howe',
  'Australia/Adelaide',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Tehran',
  'Pacific/Chatham',
  'Pacific/Apia',
  'Africa/Casablanca',
];
const SCAN_FROM = Date.UTC(2010, 0, 1);
const SCAN_TO = Date.UTC(2031, 0, 1);


/** Instants where the zone's offset changes in [from, to), found by weekly steps and bisection. */
function transitions(tz: string, from: number, to: number): { at: number; before: number; after: number }[] {
  const out: { at: number; before: number; after: number }[] = [];
  const step = 7 * DAY_MS; // changes of one zone are weeks apart (Casablanca's Ramadan pause is the closest)
  let prev = offsetMs(from, tz);
  for (let t = from + step; t < to + step; t += step) {
    const off = offsetMs(t, tz);
    if (off === prev) continue;
    let lo = t - step; // offset `prev` at lo, `off` at hi
    let hi = t;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetMs(mid, tz) === prev) lo = mid;
      else hi = mid;
    }
    out.push({ at: hi, before: prev, after: offsetMs(hi, tz) });
    prev = off;
  }
  return out;
}

/** "2026-03-29 02:30:00" for the wall clock `wallMs` (a local time written as if it were UTC). */
function wallText(wallMs: number): string {
  return new Date(wallMs).toISOString().slice(0, 19).replace('T', ' ');
}

function wallFields(wallMs: number): WallTime {
  const d = new Date(wallMs);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('zoned arithmetic agrees with Postgres', () => {
  let client: pg.Client;
  let data: ReturnType<typeof sample>;
  const seed = randomInt(2 ** 31);
  const random = seededRandom(seed);
  const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo));

  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('adminDatabaseUrl'), application_name: 'traceledger-test-zoned' });
    await client.connect();
    // Nothing below may depend on the session's zone; an odd one makes sure of it.
    await client.query(`SET TimeZone = 'America/St_Johns'`);
    data = sample();
  });
  afterAll(async () => {
    await client?.end();
  });

  /** Instants to bucket and wall times to read, crowded around each transition of each zone. */
  function sample(): { instants: { tz: string; ms: number }[]; walls: { tz: string; wall: number }[]; transitionCount: number } {
    const instants: { tz: string; ms: number }[] = [];
    const walls: { tz: string; wall: number }[] = [];
    let transitionCount = 0;
    for (const tz of ZONES) {
      const changes = transitions(tz, SCAN_FROM, SCAN_TO);
      transitionCount += changes.length;
      // Zones without a change in the window (UTC, Kolkata) still get random instants.
      for (let i = 0; i < 12; i++) instants.push({ tz, ms: between(SCAN_FROM, SCAN_TO) });
      for (const c of changes) {
        // The change itself, a millisecond either side, the hour marks around it, and random instants within a day and a half.
        for (const d of [-1, 0, 1, -HOUR_MS, HOUR_MS, c.before - c.after]) instants.push({ tz, ms: c.at + d });
        for (let i = 0; i < 2; i++) instants.push({ tz, ms: between(c.at - 36 * HOUR_MS, c.at + 36 * HOUR_MS) });
        // Wall clocks: the edges of the gap or overlap, and random seconds and whole minutes near it.
        const edgeBefore = c.at + c.before;
        const edgeAfter = c.at + c.after;
        for (const wall of [edgeBefore, edgeAfter, edgeBefore - 1000, edgeAfter - 1000, Math.min(edgeBefore, edgeAfter) + Math.abs(c.after - c.before) / 2]) {
          walls.push({ tz, wall });
        }
        walls.push({ tz, wall: between(edgeBefore - 3 * HOUR_MS, edgeBefore + 3 * HOUR_MS) });
        walls.push({ tz, wall: Math.floor(between(edgeBefore - 2 * HOUR_MS, edgeBefore + 2 * HOUR_MS) / 60_000) * 60_000 });
        // Local midnights near the change: where a day, week or month bound would be read.
        const midnight = Math.floor(edgeBefore / DAY_MS) * DAY_MS;
        walls.push({ tz, wall: midnight }, { tz, wall: midnight + DAY_MS });
      }
    }
    // Wall clocks are read to the second, as instantOf takes them.
    for (const w of walls) w.wall -= ((w.wall % 1000) + 1000) % 1000;
    return { instants, walls, transitionCount };
  }

  it('startOf matches date_trunc(unit, ts, tz) and day/week/month starts match local arithmetic, around every transition', async () => {
    const { instants, transitionCount } = data;
    expect(transitionCount, 'transitions found in the window').toBeGreaterThan(300);
    const rows = instants.flatMap(({ tz, ms }) => UNITS.map((unit) => ({ tz, ms, unit })));
    const started = performance.now();
    const { rows: pgRows } = await client.query<{ start: string; next: string | null }>(
      `SELECT (extract(epoch FROM date_trunc(u, ts, z)) * 1000)::bigint AS start,
              CASE WHEN u = 'hour' THEN NULL
                   ELSE (extract(epoch FROM (date_trunc(u, ts AT TIME ZONE z) + ('1 ' || u)::interval) AT TIME ZONE z) * 1000)::bigint END AS next
         FROM (SELECT u, 'epoch'::timestamptz + t * interval '1 millisecond' AS ts, z, i
                 FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS x(u, t, z, i)) s
        ORDER BY i`,
      [rows.map((r) => r.unit), rows.map((r) => r.ms), rows.map((r) => r.tz)],
    );
    const pgMs = performance.now() - started;
    expect(pgRows).toHaveLength(rows.length);

    const mismatches: string[] = [];
    rows.forEach(({ tz, ms, unit }, i) => {
      const row = pgRows[i];
      if (row === undefined) return;
      const want = Number(row.start);
      const got = startOf(unit, ms, tz);
      if (got !== want) mismatches.push(`startOf(${unit}, ${iso(ms)}, ${tz}) = ${iso(got)}, Postgres ${iso(want)}`);
      if (row.next !== null) {
        const wantNext = Number(row.next);
        const gotNext = startOfNext(unit, ms, tz);
        if (gotNext !== wantNext) mismatches.push(`startOfNext(${unit}, ${iso(ms)}, ${tz}) = ${iso(gotNext)}, Postgres ${iso(wantNext)}`);
      }
    });
    expect(mismatches.slice(0, 20), `seed ${seed}: ${mismatches.length} of ${rows.length} differ (Postgres took ${pgMs.toFixed(0)} ms)`).toEqual([]);
  });

  it('instantOf matches (wall::timestamp AT TIME ZONE tz), skipped and repeated times included', async () => {
    const { walls } = data;
    const { rows: pgRows } = await client.query<{ ms: string }>(
      `SELECT (extract(epoch FROM (w::timestamp AT TIME ZONE z)) * 1000)::bigint AS ms
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(w, z, i) ORDER BY i`,
      [walls.map((w) => wallText(w.wall)), walls.map((w) => w.tz)],
    );
    expect(pgRows).toHaveLength(walls.length);
    const mismatches: string[] = [];
    walls.forEach(({ tz, wall }, i) => {
      const want = Number(pgRows[i]?.ms);
      const got = instantOf(wallFields(wall), tz);
      if (got !== want) mismatches.push(`instantOf(${wallText(wall)}, ${tz}) = ${iso(got)}, Postgres ${iso(want)}`);
    });
    expect(walls.length).toBeGreaterThan(2000);
    expect(mismatches.slice(0, 20), `seed ${seed}: ${mismatches.length} of ${walls.length} differ`).toEqual([]);
  });

  it('accepts no tz name that Postgres would read as an abbreviation of another meaning', async () => {
    // date_trunc and AT TIME ZONE try the abbreviation table first, so "IST" is Israel and "CET"
    // has no summer time there, whatever Intl makes of the same name.
    const { rows } = await client.query<{ abbrev: string }>('SELECT abbrev FROM pg_timezone_abbrevs ORDER BY abbrev');
    expect(rows.length).toBeGreaterThan(50);
    const accepted = rows.map((r) => r.abbrev).filter((a) => isTimeZone(a));
    expect(accepted.filter((a) => a.toUpperCase() !== 'UTC')).toEqual([]);
  });

  it('reads every zone name Intl knows as Postgres does, at the start of each day', async () => {
    const { rows: known } = await client.query<{ name: string }>('SELECT name FROM pg_timezone_names');
    const pgNames = new Set(known.map((r) => r.name));
    const names = Intl.supportedValuesOf('timeZone').filter((tz) => isTimeZone(tz) && pgNames.has(tz));
    expect(names.length).toBeGreaterThan(300);
    const instants = [Date.UTC(2026, 0, 15, 12), Date.UTC(2026, 3, 15, 12), Date.UTC(2026, 6, 15, 12), Date.UTC(2026, 9, 15, 12)];
    const rows = names.flatMap((tz) => instants.map((ms) => ({ tz, ms })));
    const { rows: pgRows } = await client.query<{ start: string }>(
      `SELECT (extract(epoch FROM date_trunc('day', 'epoch'::timestamptz + t * interval '1 millisecond', z)) * 1000)::bigint AS start
         FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(t, z, i) ORDER BY i`,
      [rows.map((r) => r.ms), rows.map((r) => r.tz)],
    );
    const mismatches = rows.flatMap(({ tz, ms }, i) => {
      const want = Number(pgRows[i]?.start);
      const got = startOf('day', ms, tz);
      return got === want ? [] : [`startOf(day, ${iso(ms)}, ${tz}) = ${iso(got)}, Postgres ${iso(want)}`];
    });
    expect(mismatches.slice(0, 20), `${mismatches.length} of ${rows.length} differ`).toEqual([]);
  });
});
