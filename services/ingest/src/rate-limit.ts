/**
 * Token buckets per key, in memory: each key may spend `ratePerSecond` tokens a second on average
 * and up to `capacity` at once. One process's view only: with N ingest processes behind a load
 * balancer a key gets up to N times the rate.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    /** Past this many keys, the ones whose bucket has refilled are forgotten (a full bucket is the default). */
    private readonly maxKeys = 100_000,
  ) {
    if (!(ratePerSecond > 0) || !(capacity >= 1)) throw new RangeError(`a token bucket needs a positive rate and a capacity of at least 1 (got ${ratePerSecond}/s, ${capacity})`);
  }

  /**
   * Takes `n` tokens from `key`'s bucket if it holds them and returns 0; otherwise takes nothing
   * and returns the milliseconds until it will hold them. More than `capacity` is asked as
   * `capacity` (a request bigger than the bucket drains it whole, rather than never passing).
   */
  take(key: string, n: number, nowMs: number): number {
    const want = Math.min(n, this.capacity);
    const b = this.refilled(key, nowMs);
    if (b.tokens >= want) {
      b.tokens -= want;
      return 0;
    }
    // The epsilon keeps float dust (0.998 tokens at 2/s) from adding a millisecond.
    return Math.max(1, Math.ceil(((want - b.tokens) / this.ratePerSecond) * 1000 - 1e-6));
  }

  private refilled(key: string, nowMs: number): { tokens: number; atMs: number } {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.forgetFull(nowMs);
      b = { tokens: this.capacity, atMs: nowMs };
      this.buckets.set(key, b);
      return b;
    }
    // A clock that went backwards refills nothing (and takes nothing away).
    const elapsedMs = Math.max(0, nowMs - b.atMs);
    b.tokens = Math.min(this.capacity, b.tokens + (elapsedMs * this.ratePerSecond) / 1000);
    b.atMs = Math.max(b.atMs, nowMs);
    return b;
  }

  private forgetFull(nowMs: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (Math.max(0, nowMs - b.atMs) * this.ratePerSecond) / 1000 >= this.capacity) this.buckets.delete(key);
    }
    // Every key is mid-burst: forgetting them all errs toward letting requests through.
    if (this.buckets.size >= this.maxKeys) this.buckets.clear();
  }
}
