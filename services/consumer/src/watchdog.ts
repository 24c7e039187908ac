/** Reports a consumer that cannot show progress; see startWatchdog. */
export interface Watchdog {
  /** A batch completed (its offsets are committed). */
  progress(): void;
  stop(): void;
}

export interface WatchdogOptions {
  /** How long without progress, while records wait, before the consumer counts as stuck, in ms. */
  timeoutMs: number;
  /** How often to look, in ms (default a quarter of timeoutMs, at most 5000). */
  intervalMs?: number;
  /** Records waiting on this member's partitions; null when unknown. */
  lag: () => Promise<number | null>;
  /** Called once, when stuck; the watchdog stops itself first. */
  onStuck: (info: { idleMs: number; lag: number | null }) => void;
  now?: () => number;
}

/**
 * Watches a consumer that may hang without failing: a batch blocked on a lock or a database that
 * stopped answering, a member that cannot rejoin its group. No lag (nothing to do) counts as
 * progress; a lag that cannot be read counts as possibly positive, since an idle consumer can
 * always prove it is idle. After `timeoutMs` without progress it calls `onStuck`, so the process
 * can exit and be restarted instead of sitting silently behind.
 */
export function startWatchdog(options: WatchdogOptions): Watchdog {
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? Math.max(50, Math.min(5000, Math.floor(options.timeoutMs / 4)));
  let last = now();
  let checking = false;
  let stopped = false;

  async function check(): Promise<void> {
    if (checking || stopped) return;
    checking = true;
    try {
      const lag = await options.lag().catch(() => null);
      if (stopped) return;
      if (lag === 0) {
        last = now();
        return;
      }
      const idleMs = now() - last;
      if (idleMs >= options.timeoutMs) {
        stop();
        options.onStuck({ idleMs, lag });
      }
    } finally {
      checking = false;
    }
  }

  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  function stop(): void {
    stopped = true;
    clearInterval(timer);
  }
  return {
    progress() {
      last = now();
    },
    stop,
  };
}
