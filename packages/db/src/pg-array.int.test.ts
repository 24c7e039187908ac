import { afterAll, describe, expect, it } from 'vitest';
import { createPool } from './pool.js';
import { pgArray } from './pg-array.js';

const pool = createPool(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres', { max: 1 });
afterAll(() => pool.end());

describe('pgArray', () => {
  it('round-trips awkward text through Postgres unchanged', async () => {
    const values = ['plain', 'NULL', 'null', '', ' spaced ', 'a,b', '{braces}', 'quote"in', 'back\\slash', '\\"both', 'new\nline', 'tab\t', 'ünïcødé ✓', '😀', null];
    const { rows } = await pool.query<{ v: string | null }>('SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS x(v, i) ORDER BY i', [pgArray(values)]);
    expect(rows.map((r) => r.v)).toEqual(values);
  });

  it('writes numbers, bigints and booleans Postgres reads exactly', async () => {
    const { rows } = await pool.query<{ n: string; b: boolean | null; j: unknown }>(
      'SELECT n::text, b, j FROM unnest($1::numeric[], $2::boolean[], $3::jsonb[]) AS x(n, b, j)',
      [pgArray([0, 9007199254740993n, -5, null]), pgArray([true, false, null, true]), pgArray(['{"a":"x\\"y"}', '[1,2]', null, '{}'])],
    );
    expect(rows.map((r) => r.n)).toEqual(['0', '9007199254740993', '-5', null]);
    expect(rows.map((r) => r.b)).toEqual([true, false, null, true]);
    expect(rows.map((r) => r.j)).toEqual([{ a: 'x"y' }, [1, 2], null, {}]);
  });
});
