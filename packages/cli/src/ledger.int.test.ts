import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../tests/helpers/world.js';

// `traceledger ledger` as an operator runs it: the months listed, and an archive refused with a
// reason (the month's own archive is tested in packages/db/src/ledger-archive.int.test.ts).

const { url } = await createTestDatabase();
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/traceledger');
const ledger = (...args: string[]) =>
  promisify(execFile)(bin, ['ledger', ...args], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' }, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

describe('traceledger ledger', () => {
  it('lists this month and the next two as attached, and refuses a bad or too recent month with the reason', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const listed = await ledger('months', '--json');
    expect(listed.code).toBe(0);
    const body = JSON.parse(listed.stdout) as { months: { month: string; state: string }[]; defaultRows: number };
    expect(body.defaultRows).toBe(0);
    expect(body.months.filter((m) => m.month >= month).map((m) => m.state)).toEqual(['attached', 'attached', 'attached']);

    const malformed = await ledger('archive', '--month', '2026-13');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--month: a month is written YYYY-MM (e.g. 2026-08), got "2026-13"');
    const recent = await ledger('archive', '--month', month);
    expect(recent.code).toBe(1);
    expect(recent.stderr).toMatch(/may be archived from \d{4}-\d{2}-\d{2}: 35 days \(LEDGER_DEDUPE_WINDOW_DAYS\).*\(TL_LEDGER_ARCHIVE_TOO_RECENT\)/);
    const unknown = await ledger('archive', '--month', '1999-01');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('TL_LEDGER_MONTH_NOT_FOUND');
  });
});
