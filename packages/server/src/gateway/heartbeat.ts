import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../logger.js';

/**
 * Dead connections (WIRE.md 6.7): a network between a show server and its
 * executors can die without a FIN or RST, and TCP alone then keeps the socket
 * "open" for as long as the server never writes to it (and minutes when it
 * does). Every WebSocket connection, on every endpoint, is pinged at a
 * WebSocket level (`ws` in Node, Python's websocket-client, TouchDesigner and
 * browsers answer pings by themselves); one that has sent nothing (no pong,
 * no frame) for `timeoutMs` is terminated. Termination runs the ordinary
 * close path: its Client item is deleted, what it owned retired.
 *
 *   every intervalMs:  silent > timeoutMs ? terminate : ping
 *
 * A dead connection is closed at most `timeoutMs + intervalMs` after the last
 * thing it sent (defaults 20 s + 5 s = 25 s). A reader too slow to have reached
 * the ping yet is alive as long as its outgoing queue keeps shrinking (the
 * slow-consumer rules, not this, decide when it is too slow).
 *
 * `probe` (below) asks one connection to prove it is alive now (the owner
 * challenge, gateway/owner-challenge.ts): a ping, answered by a pong or any frame.
 */
export class Heartbeat {
  private readonly lastSeen = new WeakMap<WebSocket, number>();
  /** Outgoing bytes queued at the previous sweep: a queue that shrank means the peer is taking data (TCP acks). */
  private readonly lastBuffered = new WeakMap<WebSocket, number>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly wss: WebSocketServer,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    if (intervalMs > 0) this.timer = setInterval(() => this.sweep(), intervalMs).unref();
    wss.on('connection', (ws: WebSocket) => this.track(ws));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Start watching a socket (idempotent): on `connection`, or the first sweep that sees it. */
  private track(ws: WebSocket): void {
    if (this.lastSeen.has(ws)) return;
    this.lastSeen.set(ws, Date.now());
    const seen = () => this.lastSeen.set(ws, Date.now());
    ws.on('pong', seen);
    ws.on('message', seen);
  }

  private sweep(): void {
    const now = Date.now();
    for (const ws of this.wss.clients) {
      if (!this.lastSeen.has(ws)) {
        this.track(ws);
        if (ws.readyState === ws.OPEN) ws.ping();
        continue;
      }
      // A slow but live reader may not have reached our ping yet (it waits behind queued data); its queue
      // draining proves it alive. A dead peer acks nothing: its queue never shrinks.
      const buffered = ws.bufferedAmount;
      if (buffered < (this.lastBuffered.get(ws) ?? 0)) this.lastSeen.set(ws, now);
      this.lastBuffered.set(ws, buffered);
      const silent = now - this.lastSeen.get(ws)!;
      if (silent > this.timeoutMs) {
        this.log.warn({ silentMs: silent, timeoutMs: this.timeoutMs }, 'closing a connection that stopped answering pings');
        ws.terminate();
      } else if (ws.readyState === ws.OPEN) ws.ping();
    }
  }
}

/** Resolves true when `ws` sends anything (a pong, a frame) within `ms`, false otherwise or when it closes first. */
export function probe(ws: WebSocket, ms: number): Promise<boolean> {
  if (ws.readyState !== ws.OPEN) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (alive: boolean) => {
      clearTimeout(timer);
      ws.off('pong', yes);
      ws.off('message', yes);
      ws.off('close', no);
      resolve(alive);
    };
    const yes = () => done(true);
    const no = () => done(false);
    const timer = setTimeout(no, ms);
    ws.on('pong', yes);
    ws.on('message', yes);
    ws.on('close', no);
    try {
      ws.ping();
    } catch {
      done(false);
    }
  });
}
