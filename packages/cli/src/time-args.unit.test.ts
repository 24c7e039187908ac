import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UsageError } from './output.js';
import { timeArg } from './replay.js';
import { parseTimeArg } from './reprice.js';

const bin = fileURLToPath(new URL('../../../bin/traceledger', import.meta.url));

/** Runs the CLI; a usage error is found before any connection is made, so no database is needed. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  // An address nothing listens on: were a connection tried, the command would fail with 1, not 2.
  const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', KAFKA_BROKERS: '127.0.0.1:1' };
  try {
    const { stderr } = await promisify(execFile)(bin, args, { env, timeout: 15_000 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('bin/traceledger time options', () => {
  it('reprice --from 2026-02-30 exits 2, naming the option and why', async () => {
    const { code, stderr } = await cli(['reprice', '--from', '2026-02-30', '--to', '2026-03-05', '--dry-run']);
    expect(code).toBe(2);
    expect(stderr).toContain('traceledger: --from: "2026-02-30" is not a real date: February 2026 has 28 days');
    expect(stderr).toContain('traceledger reprice --from TIME --to TIME');
  });

  it('replay --from 2026-02-30 and --to 2026-13-01 exit 2, naming the option', async () => {
    const from = await cli(['replay', '--from', '2026-02-30']);
    expect(from.code).toBe(2);
    expect(from.stderr).toContain('--from: "2026-02-30" is not a real date');
    const to = await cli(['replay', '--from', 'earliest', '--to', '2026-13-01']);
    expect(to.code).toBe(2);
    expect(to.stderr).toContain('--to: "2026-13-01" is not a real date: month 13 is not 01-12');
  });
});

describe('the time arguments of reprice and replay', () => {
  const usage = (f: () => unknown): UsageError => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return err as UsageError;
    }
    throw new Error('expected a UsageError');
  };

  it('read a date as UTC midnight and a time by its zone', () => {
    expect(parseTimeArg('2026-03-01', 'from')).toEqual(new Date('2026-03-01T00:00:00Z'));
    expect(parseTimeArg('2026-03-01T01:00:00+01:00', 'to')).toEqual(new Date('2026-03-01T00:00:00Z'));
    expect(timeArg('2024-02-29', 'from')).toBe(Date.UTC(2024, 1, 29));
    expect(timeArg('2026-11-01T00:00Z', 'from')).toBe(Date.UTC(2026, 10, 1));
  });

  it.each(['2026-02-30', '2026-02-29', '2026-04-31', '2026-02-28T24:00:00Z', '2026-02-28T12:00:00', 'March 2', '1', '2026-03-02 garbage'])(
    '%s: a usage error naming the option (Date.parse accepted several of these)',
    (value) => {
      for (const [name, f] of [['from', () => parseTimeArg(value, 'from')], ['to', () => timeArg(value, 'to')]] as const) {
        const err = usage(f);
        expect(err.message).toMatch(new RegExp(`^--${name}: "`));
        expect(err.message).toContain(JSON.stringify(value));
      }
    },
  );

  it('reprice without --from asks for it', () => {
    expect(usage(() => parseTimeArg(undefined, 'from')).message).toBe('reprice needs --from');
  });
});
