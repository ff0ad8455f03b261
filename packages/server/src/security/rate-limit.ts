/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Cheap
 * enough to run on every frame (no timers: refilled from the clock on use).
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(n = 1): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** Counts violations in a sliding window: a client that keeps exceeding a limit is disconnected. */
export class Strikes {
  private times: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Record one; true when the limit is now exceeded. */
  hit(): boolean {
    const now = Date.now();
    this.times.push(now);
    while (this.times.length > 0 && now - this.times[0]! > this.windowMs) this.times.shift();
    return this.times.length > this.max;
  }
}
