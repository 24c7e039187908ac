import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConsumerError, isTransientDbError } from './errors.js';
import { startWatchdog } from './watchdog.js';

describe('startWatchdog', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  async function run(lags: (number | null)[], progressAt: number[] = []) {
    vi.useFakeTimers();
    const stuck: { idleMs: number; lag: number | null }[] = [];
    let i = 0;
    const dog = startWatchdog({
      timeoutMs: 1000,
      intervalMs: 100,
      lag: async () => lags[Math.min(i++, lags.length - 1)] ?? null,
      onStuck: (info) => stuck.push(info),
      now: () => Date.now(),
    });
    for (let t = 1; t <= 30; t++) {
      if (progressAt.includes(t)) dog.progress();
      await vi.advanceTimersByTimeAsync(100);
    }
    dog.stop();
    return stuck;
  }

  it('fires once when records wait and no batch completes for the whole period', async () => {
    const stuck = await run([5]);
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.lag).toBe(5);
    expect(stuck[0]?.idleMs).toBeGreaterThanOrEqual(1000);
  });

  it('treats an unknown lag as possibly positive', async () => {
    expect(await run([null])).toHaveLength(1);
  });

  it('stays quiet while the consumer is idle (no lag) or keeps completing batches', async () => {
    expect(await run([0])).toHaveLength(0);
    expect(await run([7], [5, 12, 19, 26])).toHaveLength(0);
  });

  it('counts from the last progress, not from the start', async () => {
    const stuck = await run([3], [5]);
    expect(stuck).toHaveLength(1);
  });
});

describe('isTransientDbError', () => {
  const serverError = (code: string) => Object.assign(new Error('x'), { code, severity: 'ERROR' });

  it('retries a lost connection, a restarting server and a rolled-back transaction', () => {
    expect(isTransientDbError(new Error('connection dropped'))).toBe(true);
    expect(isTransientDbError(Object.assign(new Error('x'), { code: 'ECONNREFUSED', syscall: 'connect' }))).toBe(true);
    expect(isTransientDbError(Object.assign(new Error('x'), { code: 'EPIPE' }))).toBe(true);
    for (const code of ['57P01', '57P03', '08006', '40001', '40P01', '53300', '55P03']) expect(isTransientDbError(serverError(code))).toBe(true);
  });

  it('does not retry what the server says can never succeed, nor a programming error', () => {
    for (const code of ['42P01', '23505', '22003', '42501', 'XX000']) expect(isTransientDbError(serverError(code))).toBe(false);
    expect(isTransientDbError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientDbError(new ConsumerError('TL_CONSUMER_FOLD_FAILED', 'x'))).toBe(false);
    expect(isTransientDbError('a string')).toBe(false);
  });
});
