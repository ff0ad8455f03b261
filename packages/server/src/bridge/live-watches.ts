import { randomUUID } from 'node:crypto';
import { Kind, type MItem, type QueryWindow } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { Subscriber } from '../live/subscriber.js';
import type { QueryRequest } from '../live/live-queries.js';
import { ResultSet } from './result-set.js';

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
  kind: 'query' | 'report' | 'view';
  result: ResultSet | undefined;
  seen: boolean;
}

type MykoFrame = { event: string; tx?: string; data?: any };

/**
 * A non-Myko client of the live engine (a `$` or EventRPC socket, an MCP
 * session) seen as one `Subscriber`. LiveQueries and LiveReports send it Myko
 * frames (current dialect) exactly as they would a Myko connection; it folds
 * them into per-watch state and hands them to the protocol, which turns them
 * into its own messages. There is one live engine; this is only a translator.
 *
 *   LiveQueries ─ diff frame ─┐
 *   LiveReports ─ value ──────┴→ LiveWatches.send ─ by tx → WatchHandler → protocol
 *
 * Without a socket there is nothing to hold back: `congested()` is false and
 * `onDrain` runs at once. SocketPeer overrides both with its socket's buffer.
 */
export class LiveWatches implements Subscriber {
  /** The caller's token claims (undefined: anonymous, or authentication off). */
  claims: Record<string, unknown> | undefined;
  readonly dialect = 'current' as const;
  closed = false;
  private readonly watches = new Map<string, Watch>();
  private nextTx = 1;

  constructor(
    protected readonly ctx: ServerContext,
    readonly clientId: string = randomUUID(),
  ) {}

  congested(): boolean {
    return false;
  }

  onDrain(cb: () => void): void {
    cb();
  }

  /** Called by the live engine with a Myko frame; never goes anywhere as is. */
  send(frame: () => object): void {
    if (this.closed) return;
    const f = frame() as MykoFrame;
    const tx: unknown = f.data?.tx ?? f.tx;
    if (typeof tx !== 'string') return;
    const w = this.watches.get(tx);
    if (!w) return; // cancelled meanwhile
    switch (f.event) {
      case Kind.QueryResponse:
      case Kind.ViewResponse: {
        const d = f.data as { sequence: number; upserts: { item: MItem }[]; deletes: string[]; totalCount?: number };
        w.result ??= new ResultSet();
        w.result.apply(d.sequence, d.upserts, d.deletes, d.totalCount);
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
      case Kind.ViewError:
        w.handler.error?.(String((f.data as { message?: unknown }).message ?? 'failed'));
        return;
      default:
        return;
    }
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

  /** Start a live view (its result is handed to `handler.query`); its first result arrives before this returns. Throws ViewError. */
  watchView(req: { viewId: string; params: Record<string, unknown>; window: QueryWindow | undefined }, handler: WatchHandler): string {
    const tx = `w${this.nextTx++}`;
    this.watches.set(tx, { handler, kind: 'view', result: undefined, seen: false });
    try {
      this.ctx.views.subscribe(this, { tx, viewId: req.viewId, view: req.params, window: req.window });
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
    else if (w.kind === 'view') this.ctx.views.cancel(this, tx);
    else this.ctx.reports.cancel(this, tx);
    return true;
  }

  get watchCount(): number {
    return this.watches.size;
  }

  /** Called once when the client has gone: every watch ends with it. */
  dispose(): void {
    this.closed = true;
    this.ctx.queries.dropConnection(this);
    this.ctx.reports.dropConnection(this);
    this.ctx.views.dropConnection(this);
    this.watches.clear();
  }
}
