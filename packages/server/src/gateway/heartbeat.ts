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
 *   every intervalMs, each connection once:  silent > timeoutMs ? terminate : ping
 *
 * A dead connection is closed at most `timeoutMs + intervalMs` after the last
 * thing it sent (defaults 20 s + 5 s = 25 s). A reader too slow to have reached
 * the ping yet is alive as long as its outgoing queue keeps shrinking (the
 * slow-consumer rules, not this, decide when it is too slow).
 *
 * The sweep is spread over the interval in slices (SLICES ticks, each visiting
 * its share of the connections as they were when the sweep began): a ping is a
 * socket write, and pinging every connection in one turn stalled the event loop
 * for as many writes (about 9 ms per 1,000 connections here, 180 ms at 20,000)
 * and brought as many pongs back at once, delaying whatever diffs fell due then.
 *
 * `probe` (below) asks one connection to prove it is alive now (the owner
 * challenge, gateway/owner-challenge.ts): a ping, answered by a pong or any frame.
 */
/** Ticks per sweep, at most; a tick is never shorter than MIN_TICK_MS. */
const SLICES = 50;
const MIN_TICK_MS = 10;

export class Heartbeat {
  private readonly lastSeen = new WeakMap<WebSocket, number>();
  /** Outgoing bytes queued at the previous sweep: a queue that shrank means the peer is taking data (TCP acks). */
  private readonly lastBuffered = new WeakMap<WebSocket, number>();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Ticks per sweep. */
  private readonly slices: number;
  /** The connections of the sweep under way, as they were when it began, and the tick it is at. */
  private sweepList: WebSocket[] = [];
  private tickOfSweep = 0;

  constructor(
    private readonly wss: WebSocketServer,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.slices = Math.max(1, Math.min(SLICES, Math.floor(intervalMs / MIN_TICK_MS)));
    if (intervalMs > 0) this.timer = setInterval(() => this.tick(), Math.max(1, Math.round(intervalMs / this.slices))).unref();
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

  /**
   * One slice of the sweep: tick i of a sweep over n connections visits those from i·n/slices up to
   * (i+1)·n/slices, so each connection is visited once per sweep, one interval apart (a connection that
   * arrives during a sweep is first visited in the next).
   */
  private tick(): void {
    if (this.tickOfSweep === 0) this.sweepList = [...this.wss.clients];
    const list = this.sweepList;
    const i = this.tickOfSweep;
    const from = Math.floor((i * list.length) / this.slices);
    const to = Math.floor(((i + 1) * list.length) / this.slices);
    this.tickOfSweep = i + 1 === this.slices ? 0 : i + 1;
    if (this.tickOfSweep === 0) this.sweepList = [];
    const now = Date.now();
    for (let k = from; k < to; k++) this.visit(list[k]!, now);
  }

  private visit(ws: WebSocket, now: number): void {
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CLOSING) return; // closed since the sweep began
    if (!this.lastSeen.has(ws)) {
      this.track(ws);
      if (ws.readyState === ws.OPEN) ws.ping();
      return;
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
