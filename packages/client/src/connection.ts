import { Kind, LegacySetClientIdCommand, SetClientIdCommand } from '@myko/protocol';
import { decodeFrame, encodeFrame, type WireFrame } from './codec.js';
import { QueueFullError } from './errors.js';
import { randomId } from './ids.js';
import { backoffDelay, type Endpoint, type ResolvedOptions } from './options.js';
import { StatusSignal } from './status.js';
import type { TransportSocket } from './transport.js';

/** What the layers above hear from the connection. */
export interface ConnectionHooks {
  /** A socket is open and the outbox is flushed: re-send live subscriptions now. */
  onOpen(): void;
  /** A decoded frame, except the client-id commands, which are handled here. */
  onFrame(frame: WireFrame): void;
  /** The open socket was lost: requests in flight on it will get no answer. */
  onLost(url: string): void;
  /** Given up (close() or reconnect exhausted): fail everything pending. */
  onClosed(reason: string): void;
  /** A frame could not be decoded (a server bug, or not a Myko server), or a transport failed. */
  onError(error: unknown): void;
}

/**
 * One logical connection over a sequence of sockets: connect, lose, back off,
 * fail over to the next address, reconnect, until `close()`.
 *
 *   attempt n ─▶ endpoints[(first + n) % len] ─open─▶ flush outbox ─▶ hooks.onOpen (resubscribe)
 *       ▲                                    └─SetClientId─▶ status connected {url, clientId}
 *       └── delay = backoff(n) ◀── socket closed / connect timeout / no traffic for 2 pings
 *
 * Frames sent while no socket is open wait in the outbox, in order. Frames
 * written into a socket that then dies are lost: the protocol has no acks for
 * events, and in-flight commands are failed by the layer above (onLost).
 */
export class Connection {
  readonly status: StatusSignal;
  clientId: string | undefined;
  private socket: TransportSocket | undefined;
  private open = false;
  private closed = false;
  private index = 0;
  /** Reconnect attempts since the last socket that opened: 0 for the first connect, then 1, 2, ... */
  private attemptNo = 0;
  private readonly outbox: WireFrame[] = [];
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastReceived = 0;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.status = new StatusSignal({ type: 'connecting', url: this.endpoint.url, attempt: 0 });
    this.attempt();
  }

  get isOpen(): boolean {
    return this.open;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The address of the current (or next) socket. */
  get endpoint(): Endpoint {
    return this.opts.endpoints[this.index % this.opts.endpoints.length]!;
  }

  /** Write now if a socket is open, else keep it for the next one. */
  send(frame: WireFrame): void {
    if (this.closed) return;
    if (this.open) return this.write(frame);
    if (this.outbox.length >= this.opts.maxQueuedFrames) throw new QueueFullError(this.opts.maxQueuedFrames);
    this.outbox.push(frame);
  }

  /** Like send, but dropped rather than queued when no socket is open (subscriptions are re-sent on open anyway). */
  sendIfOpen(frame: WireFrame): void {
    if (this.open && !this.closed) this.write(frame);
  }

  /** Take a frame back out of the outbox (a command given up before it left); false when already written. */
  withdraw(frame: WireFrame): boolean {
    const i = this.outbox.indexOf(frame);
    if (i < 0) return false;
    this.outbox.splice(i, 1);
    return true;
  }

  /** Room left in the outbox, or Infinity while open. */
  get queueRoom(): number {
    return this.open ? Infinity : this.opts.maxQueuedFrames - this.outbox.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const s = this.socket;
    this.socket = undefined;
    this.open = false;
    this.outbox.length = 0;
    try {
      s?.close(1000, 'client closed');
    } catch {
      // already gone
    }
    this.status.set({ type: 'closed' });
    this.hooks.onClosed('close() was called');
  }

  private attempt(): void {
    if (this.closed) return;
    const ep = this.endpoint;
    this.status.set({ type: 'connecting', url: ep.url, attempt: this.attemptNo });
    let sock: TransportSocket;
    const mine = () => this.socket === sock && !this.closed;
    try {
      sock = this.opts.transport(ep.connectUrl, {
        onOpen: () => mine() && this.onOpen(),
        onMessage: (data) => mine() && this.onMessage(data),
        onClose: (code, reason) => mine() && this.drop(code, reason),
        onError: () => undefined, // a close follows; its code says more
      });
    } catch (err) {
      // A transport that throws synchronously (bad URL, no WebSocket) counts as a failed attempt.
      this.socket = undefined;
      this.status.set({ type: 'disconnected', url: ep.url, code: 1006, reason: String((err as Error).message ?? err) });
      this.hooks.onError(err);
      return this.scheduleRetry();
    }
    this.socket = sock;
    this.connectTimer = setTimeout(() => {
      if (!mine() || this.open) return;
      this.drop(1006, `no connection within ${this.opts.connectTimeoutMs} ms`);
    }, this.opts.connectTimeoutMs);
  }

  private onOpen(): void {
    clearTimeout(this.connectTimer);
    this.open = true;
    this.attemptNo = 0;
    this.clientId = undefined;
    this.lastReceived = Date.now();
    this.startPings();
    for (const frame of this.outbox.splice(0)) this.write(frame);
    this.hooks.onOpen();
  }

  private onMessage(data: string | Uint8Array): void {
    this.lastReceived = Date.now();
    let frame: WireFrame | undefined;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      return this.hooks.onError(err);
    }
    if (!frame) return this.hooks.onError(new Error('frame is not an object {event, data}'));
    if (frame.event === Kind.Command) {
      const d = frame.data as { commandId?: unknown; command?: { clientId?: unknown } } | null;
      if (d?.commandId === SetClientIdCommand && typeof d.command?.clientId === 'string') {
        this.clientId = d.command.clientId;
        this.status.set({ type: 'connected', url: this.endpoint.url, clientId: this.clientId });
        return;
      }
      // WIRE.md 1.4: the same id again under its 2023 name; nothing to answer.
      if (d?.commandId === LegacySetClientIdCommand) return;
    }
    this.hooks.onFrame(frame);
  }

  /** The current socket is gone (closed, timed out, or silent): report and plan the next attempt. */
  private drop(code: number, reason: string): void {
    const sock = this.socket;
    const wasOpen = this.open;
    const url = this.endpoint.url;
    this.socket = undefined;
    this.open = false;
    this.clientId = undefined;
    this.clearTimers();
    try {
      sock?.close(1000, reason.slice(0, 100));
    } catch {
      // already gone
    }
    this.status.set({ type: 'disconnected', url, code, reason });
    if (wasOpen) this.hooks.onLost(url);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const r = this.opts.reconnect;
    if (r === false || this.attemptNo >= r.maxAttempts) {
      this.close();
      return;
    }
    // Fail over: every new attempt goes to the next address (the same one when there is one).
    this.index = (this.index + 1) % this.opts.endpoints.length;
    const attempt = ++this.attemptNo;
    const delayMs = backoffDelay(r, attempt, this.opts.random);
    this.status.set({ type: 'reconnecting', attempt, delayMs, url: this.endpoint.url });
    this.retryTimer = setTimeout(() => this.attempt(), delayMs);
  }

  private startPings(): void {
    const every = this.opts.pingIntervalMs;
    if (every === 0) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastReceived > 2 * every) return this.drop(1006, `nothing received for ${2 * every} ms`);
      this.write({ event: Kind.Ping, data: { id: randomId(), timestamp: Date.now() } });
    }, every);
  }

  private write(frame: WireFrame): void {
    try {
      this.socket?.send(encodeFrame(this.opts.encoding, frame));
    } catch (err) {
      // The socket died between our last event and this write; its close will follow.
      this.hooks.onError(err);
    }
  }

  private clearTimers(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.connectTimer = this.retryTimer = this.pingTimer = undefined;
  }
}
