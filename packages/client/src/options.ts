import { browserTransport, type Transport } from './transport.js';

export interface ReconnectOptions {
  /** Wait before the first reconnect attempt (before jitter). */
  initialDelayMs: number;
  /** Cap of the exponential growth. */
  maxDelayMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /**
   * Fraction of each delay that is random: 0.5 waits between 50% and 100% of
   * it. Spreads the reconnects of many clients after a server restart.
   */
  jitter: number;
  /** Give up (status `closed`) when this many reconnect attempts in a row have failed. */
  maxAttempts: number;
}

export interface MykoClientOptions {
  /** One server, e.g. `ws://host:5155/myko`. Give `url` or `urls`, not both. */
  url?: string;
  /** Several servers of one cluster, tried in turn: connect to the first, fail over to the next. */
  urls?: readonly string[];
  /** Sent as `?access_token=` on the URL. */
  token?: string;
  /** Socket factory; default `browserTransport` (`globalThis.WebSocket`). Node: `nodeTransport` from `@myko/client/node`. */
  transport?: Transport;
  /** `cbor` sends binary CBOR frames; the server then answers in CBOR too. Default `json`. */
  encoding?: 'json' | 'cbor';
  /** Item types whose events go out at once as `ws:m:event` instead of waiting for the batch (e.g. `Pulse`). */
  immediateTypes?: readonly string[];
  /** Reconnect policy, or `false` to stay disconnected after the first loss. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Default timeout of `sendCommand`. */
  commandTimeoutMs?: number;
  /**
   * Most events in one `ws:m:event-batch` frame. At most 256: values above
   * are capped to 256, so that one client's burst leaves as several modest
   * frames rather than one that holds up the server and its other readers.
   */
  maxBatchEvents?: number;
  /** Frames kept while disconnected (events, commands); past this, `set`/`sendCommand` fail with QueueFullError. */
  maxQueuedFrames?: number;
  /** A socket that has not opened within this is dropped and the next attempt begins. */
  connectTimeoutMs?: number;
  /**
   * Send `ws:m:ping` this often while connected; a socket that has received
   * nothing for two intervals is treated as dead (half-open TCP never closes
   * by itself). 0 disables.
   */
  pingIntervalMs?: number;
  /** Source of randomness for jitter (tests pin it). */
  random?: () => number;
}

/** A server address: `url` as given (shown in statuses), `connectUrl` with the token added. */
export interface Endpoint {
  url: string;
  connectUrl: string;
}

export interface ResolvedOptions {
  endpoints: readonly Endpoint[];
  transport: Transport;
  encoding: 'json' | 'cbor';
  immediateTypes: ReadonlySet<string>;
  reconnect: ReconnectOptions | false;
  commandTimeoutMs: number;
  maxBatchEvents: number;
  maxQueuedFrames: number;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  random: () => number;
}

/** The ceiling on events per `ws:m:event-batch` frame: `maxBatchEvents` is capped to it. */
export const MAX_BATCH_EVENTS = 256;

/** Every default of the client, in one place. */
export const defaults = Object.freeze({
  encoding: 'json' as const,
  reconnect: Object.freeze<ReconnectOptions>({ initialDelayMs: 100, maxDelayMs: 10_000, factor: 2, jitter: 0.5, maxAttempts: Infinity }),
  commandTimeoutMs: 30_000,
  maxBatchEvents: MAX_BATCH_EVENTS,
  maxQueuedFrames: 10_000,
  connectTimeoutMs: 10_000,
  pingIntervalMs: 15_000,
});

/** Fill defaults and reject contradictory settings now, not at the first reconnect. */
export function resolveOptions(o: MykoClientOptions): ResolvedOptions {
  if (o.url !== undefined && o.urls !== undefined) throw new TypeError('give `url` or `urls`, not both');
  const raw = o.urls ?? (o.url !== undefined ? [o.url] : []);
  if (raw.length === 0) throw new TypeError('a server address is needed: `url` or a non-empty `urls`');
  const endpoints = raw.map((url) => ({ url, connectUrl: withToken(url, o.token) }));
  const encoding = o.encoding ?? defaults.encoding;
  if (encoding !== 'json' && encoding !== 'cbor') throw new TypeError(`encoding must be 'json' or 'cbor', got ${String(encoding)}`);
  let reconnect: ReconnectOptions | false = false;
  if (o.reconnect !== false) {
    reconnect = { ...defaults.reconnect, ...o.reconnect };
    const r = reconnect;
    if (!(r.initialDelayMs >= 0) || !(r.maxDelayMs >= r.initialDelayMs))
      throw new RangeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs');
    if (!(r.factor >= 1)) throw new RangeError('reconnect.factor must be >= 1');
    if (!(r.jitter >= 0 && r.jitter <= 1)) throw new RangeError('reconnect.jitter must be within [0, 1]');
    if (!(r.maxAttempts >= 1)) throw new RangeError('reconnect.maxAttempts must be >= 1');
  }
  const positive = (name: string, v: number) => {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
    return v;
  };
  return {
    endpoints,
    transport: o.transport ?? browserTransport,
    encoding,
    immediateTypes: new Set(o.immediateTypes ?? []),
    reconnect,
    commandTimeoutMs: positive('commandTimeoutMs', o.commandTimeoutMs ?? defaults.commandTimeoutMs),
    // Capped rather than refused: a larger value only ever meant "as large as allowed".
    maxBatchEvents: Math.min(MAX_BATCH_EVENTS, Math.max(1, Math.floor(positive('maxBatchEvents', o.maxBatchEvents ?? defaults.maxBatchEvents)))),
    maxQueuedFrames: Math.floor(positive('maxQueuedFrames', o.maxQueuedFrames ?? defaults.maxQueuedFrames)),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs ?? defaults.connectTimeoutMs),
    pingIntervalMs: o.pingIntervalMs === 0 ? 0 : positive('pingIntervalMs', o.pingIntervalMs ?? defaults.pingIntervalMs),
    random: o.random ?? Math.random,
  };
}

function withToken(url: string, token: string | undefined): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new TypeError(`not a valid URL: ${url}`, { cause: err });
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`a WebSocket URL (ws: or wss:) is needed, got ${url}`);
  if (token !== undefined) u.searchParams.set('access_token', token);
  return u.toString();
}

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential, capped,
 * then shortened by a random part so that clients do not return in step.
 */
export function backoffDelay(r: ReconnectOptions, attempt: number, random: () => number): number {
  const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** (attempt - 1));
  return Math.round(base * (1 - r.jitter * random()));
}
