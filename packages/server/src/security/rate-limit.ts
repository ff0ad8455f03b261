import type { ServerConfig } from '../config.js';

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

/** The window in which `maxViolations` limit violations close a connection. */
export const violationWindowMs = 10_000;

/** The per-connection limits of the server's config (config.ts documents each). */
export type LimitConfig = Pick<
  ServerConfig,
  'maxMessagesPerSecond' | 'maxMessagesBurst' | 'maxEventsPerSecond' | 'maxEventsBurst' | 'maxLiveQueriesPerConnection' | 'maxViolations'
>;

/** A refused request: `message` for the reply; `close` when the connection has kept at it and is to be closed. */
export interface Refusal {
  close: boolean;
  message: string;
}

/**
 * The per-connection limits of README "Security and limits", as one object
 * for every endpoint (/myko: gateway/connection.ts; `$` and EventRPC:
 * bridge/peer-endpoint.ts): messages/s and events/s token buckets, the
 * live-query room, and violations counted over `violationWindowMs`: past
 * `maxViolations` the connection is to be closed (1008 MYKO_RATE_LIMITED).
 * Each protocol shapes the refusal as its own error message.
 */
export class ConnectionLimits {
  private readonly messages: TokenBucket;
  private readonly events: TokenBucket;
  private readonly violations: Strikes;

  constructor(private readonly config: LimitConfig) {
    this.messages = new TokenBucket(config.maxMessagesPerSecond, config.maxMessagesBurst);
    this.events = new TokenBucket(config.maxEventsPerSecond, config.maxEventsBurst);
    this.violations = new Strikes(config.maxViolations, violationWindowMs);
  }

  /** One incoming frame; undefined when within the limit. */
  message(): Refusal | undefined {
    return this.messages.take() ? undefined : this.refuse(`more than ${this.config.maxMessagesPerSecond} messages per second`);
  }

  /** `n` events about to be written; undefined when within the limit. */
  takeEvents(n: number): Refusal | undefined {
    return this.events.take(n) ? undefined : this.refuse(`more than ${this.config.maxEventsPerSecond} events per second`);
  }

  /**
   * Room for `adding` more live queries beside `live`: undefined, or the
   * MYKO_TOO_MANY_QUERIES message. Not a violation, as on /myko: a refused
   * subscription costs the server nothing.
   */
  liveRoom(live: number, adding = 1): string | undefined {
    const max = this.config.maxLiveQueriesPerConnection;
    if (live + adding <= max) return undefined;
    return adding === 1
      ? `this connection has ${live} live queries and reports, the limit is ${max}; cancel some first`
      : `${adding} more live queries beside this connection's ${live} exceed the limit of ${max}: none was started; cancel some first`;
  }

  private refuse(what: string): Refusal {
    if (this.violations.hit()) return { close: true, message: `limits exceeded repeatedly (${what})` };
    return { close: false, message: `rate limited: ${what}; the request was dropped` };
  }
}
