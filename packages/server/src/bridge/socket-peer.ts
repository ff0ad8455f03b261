import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode, Kind, type MItem } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { Subscriber } from '../live/subscriber.js';
import type { QueryRequest } from '../live/live-queries.js';
import { ResultSet } from './result-set.js';
import { ConnectionLimits } from '../security/rate-limit.js';

/** What a live watch reports back to the protocol that opened it. */
export interface WatchHandler {
  /** A live query's result changed; `first` for its first result (the snapshot). */
  query?(result: ResultSet, first: boolean): void;
  /** A live report's value: first at once, then each time it changes. */
  report?(value: unknown, first: boolean): void;
  /** A live report failed to recompute (the watch stays live; the next good value is sent). */
  error?(message: string): void;
}

interface Watch {
  handler: WatchHandler;
  kind: 'query' | 'report';
  result: ResultSet | undefined;
  seen: boolean;
}

type MykoFrame = { event: string; tx?: string; data?: any };

/**
 * One socket of a non-Myko protocol (`$` models, EventRPC) seen as a
 * `Subscriber` of the live engine. LiveQueries and LiveReports send it Myko
 * frames (current dialect) exactly as they would a Myko connection; it folds
 * them into per-watch state and hands them to the protocol, which turns them
 * into its own messages. There is one live engine; this is only a translator.
 *
 *   LiveQueries ─ diff frame ─┐
 *   LiveReports ─ value ──────┴→ SocketPeer.send ─ by tx → WatchHandler → protocol message → socket
 *
 * Backpressure is the engine's: while `congested()`, diffs are held back and
 * coalesced, and flushed on `onDrain`. Messages the protocol sends itself
 * (replies) are never held back; past `sendMaxBufferedBytes` the socket is
 * closed as a slow consumer, as a Myko connection would be.
 */
export class SocketPeer implements Subscriber {
  readonly clientId = randomUUID();
  /** The handshake token's claims (undefined: anonymous, or authentication off). */
  claims: Record<string, unknown> | undefined;
  readonly dialect = 'current' as const;
  readonly connectedAt = new Date().toISOString();
  /** Since when the outgoing buffer has been above the high-water mark (0 = not congested). */
  congestedSince = 0;
  closed = false;
  private closing = false;
  readonly stats = { framesIn: 0, framesOut: 0, errors: 0 };
  /** Messages/s, events/s, live queries: the same limits as a Myko connection's (PeerEndpoint applies them). */
  readonly limits: ConnectionLimits;
  /** The Client item's write, so a close waits for it before retiring the client. */
  recorded: Promise<unknown> = Promise.resolve();
  private readonly watches = new Map<string, Watch>();
  private nextTx = 1;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly afterWrite = () => this.checkDrain();

  constructor(
    readonly ws: WebSocket,
    readonly address: string,
    protected readonly ctx: ServerContext,
  ) {
    this.limits = new ConnectionLimits(ctx.config);
  }

  congested(): boolean {
    return this.ws.bufferedAmount > this.ctx.config.sendHighWaterBytes;
  }

  /** Called by the live engine with a Myko frame; never goes to the socket as is. */
  send(frame: () => object): void {
    if (this.closed) return;
    const f = frame() as MykoFrame;
    const tx: unknown = f.data?.tx ?? f.tx;
    if (typeof tx !== 'string') return;
    const w = this.watches.get(tx);
    if (!w) return; // cancelled meanwhile
    switch (f.event) {
      case Kind.QueryResponse: {
        const d = f.data as { sequence: number; upserts: { item: MItem }[]; deletes: string[] };
        w.result ??= new ResultSet();
        w.result.apply(d.sequence, d.upserts, d.deletes);
        const first = !w.seen;
        w.seen = true;
        w.handler.query?.(w.result, first);
        return;
      }
      case Kind.ReportResponse: {
        const first = !w.seen;
        w.seen = true;
        w.handler.report?.((f.data as { response: unknown }).response, first);
        return;
      }
      case Kind.ReportError:
      case Kind.QueryError:
        w.handler.error?.(String((f.data as { message?: unknown }).message ?? 'failed'));
        return;
      default:
        return;
    }
  }

  onDrain(cb: () => void): void {
    this.drainWaiters.push(cb);
    this.checkDrain();
  }

  /**
   * Start a live query; its first result reaches `handler` before this
   * returns. Throws the engine's QueryError when it cannot run.
   */
  watchQuery(req: Omit<QueryRequest, 'tx'>, handler: WatchHandler): string {
    const tx = `w${this.nextTx++}`;
    this.watches.set(tx, { handler, kind: 'query', result: undefined, seen: false });
    try {
      this.ctx.queries.subscribe(this, { ...req, tx });
    } catch (err) {
      this.watches.delete(tx);
      throw err;
    }
    return tx;
  }

  /** Start a live report; its first value reaches `handler` before this returns. Throws ReportError. */
  watchReport(reportId: string, params: Record<string, unknown>, handler: WatchHandler): string {
    const tx = `w${this.nextTx++}`;
    this.watches.set(tx, { handler, kind: 'report', result: undefined, seen: false });
    try {
      this.ctx.reports.subscribe(this, tx, reportId, params);
    } catch (err) {
      this.watches.delete(tx);
      throw err;
    }
    return tx;
  }

  /** End a watch; false when it was not live. */
  unwatch(tx: string): boolean {
    const w = this.watches.get(tx);
    if (!w) return false;
    this.watches.delete(tx);
    if (w.kind === 'query') this.ctx.queries.cancel(this, tx);
    else this.ctx.reports.cancel(this, tx);
    return true;
  }

  get watchCount(): number {
    return this.watches.size;
  }

  /** Send one protocol message as JSON text. Throws, having sent nothing, when it is not JSON-serialisable. */
  sendJson(message: unknown): void {
    if (this.closed) return;
    const text = JSON.stringify(message);
    this.stats.framesOut++;
    this.ws.send(text, this.afterWrite);
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.ctx.config.sendHighWaterBytes) {
      if (this.congestedSince === 0) this.congestedSince = Date.now();
      if (buffered > this.ctx.config.sendMaxBufferedBytes) {
        this.ctx.log.warn({ clientId: this.clientId, buffered }, 'closing slow consumer: send buffer limit');
        this.close(CloseCode.TryAgainLater, ErrorCode.SlowConsumer);
      }
    }
  }

  close(code: number, reason: string): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.ws.close(code, reason);
    // A client that does not read will never take the close frame: do not wait on it forever.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  /** Called once when the socket has closed: every watch ends with it. */
  dispose(): void {
    this.closed = true;
    this.ctx.queries.dropConnection(this);
    this.ctx.reports.dropConnection(this);
    this.watches.clear();
    this.drainWaiters.length = 0;
  }

  private checkDrain(): void {
    if (this.closed || this.ws.bufferedAmount > this.ctx.config.sendHighWaterBytes) return;
    this.congestedSince = 0;
    if (this.drainWaiters.length === 0) return;
    for (const cb of this.drainWaiters.splice(0)) cb();
  }
}
