import type { MItem, QueryWindow } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import { valueKey, type Change, type StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';
import { ByConnection } from './by-connection.js';
import { PendingFlushes } from './pending-flushes.js';
import { QuerySubscription } from './query-subscription.js';
import type { Page } from './result-page.js';
import { PinnedStates } from './pinned-states.js';

/** A query request that cannot run: answered with `ws:m:query-error`. */
export class QueryError extends Error {
  override name = 'QueryError';
}

interface TypeIndex {
  /** Queries that must look at every change of the type (predicates, all-items). */
  scan: Set<QuerySubscription>;
  /** Queries limited to known ids. */
  byId: Map<string, Set<QuerySubscription>>;
  /** Queries with a field equality: field → value key → queries. */
  byField: Map<string, Map<string, Set<QuerySubscription>>>;
}

export interface QueryRequest {
  tx: string;
  queryId: string;
  itemType: string;
  params: Record<string, unknown>;
  window: QueryWindow | undefined;
}

/**
 * All live queries of the process. A committed change reaches only the
 * queries indexed under its item type and, within it, under its id or the
 * values of its filtered fields (before and after); the rest never look.
 *
 * Changes of one committed batch are applied to every affected query first,
 * then each affected connection is flushed once: a burst becomes one response
 * per query. A congested connection is skipped and flushed when its socket
 * drains; meanwhile its queries keep coalescing.
 */
export class LiveQueries {
  private readonly types = new Map<string, TypeIndex>();
  private readonly subs = new ByConnection<QuerySubscription>();
  private readonly pending = new PendingFlushes<QuerySubscription>((sub) => sub.flush(this.state));
  /** A response that failed to send while a change was routed (onChanges). */
  private sendFailure: { err: unknown } | undefined;

  constructor(
    private readonly state: StateReader,
    private readonly registry: Registry,
    /** Wound-back connections answer from their own state and get no live diffs (live/windback.ts). */
    private readonly pins = new PinnedStates(),
  ) {}

  private stateFor(conn: Subscriber): StateReader {
    return this.pins.get(conn) ?? this.state;
  }

  /** Answer every live query of `conn` again, as sequence 0, from the state it reads now (pinned or live). */
  restate(conn: Subscriber): void {
    const state = this.stateFor(conn);
    this.pending.forget(conn);
    for (const sub of this.subs.of(conn)) sub.reload(state);
  }

  /** Number of live queries (metrics). */
  get size(): number {
    return this.subs.size;
  }

  countFor(conn: Subscriber): number {
    return this.subs.countFor(conn);
  }

  has(conn: Subscriber, tx: string): boolean {
    return this.subs.has(conn, tx);
  }

  /** Start a live query and send its first response. Throws QueryError when it cannot run. */
  subscribe(conn: Subscriber, req: QueryRequest): QuerySubscription {
    const def = this.registry.query(req.queryId, req.itemType);
    if (!def) throw new QueryError(`unknown query ${req.queryId}`);
    const itemType = def.itemType ?? req.itemType;
    let filter;
    try {
      filter = def.compile(req.params, itemType);
    } catch (err) {
      throw new QueryError(`${req.queryId}: ${(err as Error).message}`);
    }
    const sub = new QuerySubscription(conn, req.tx, req.queryId, itemType, filter, req.window);
    const state = this.stateFor(conn);
    try {
      sub.load(state);
    } catch (err) {
      throw new QueryError(`${req.queryId} failed: ${(err as Error).message}`);
    }
    this.subs.add(conn, req.tx, sub);
    this.index(sub, true);
    sub.snapshot(state);
    return sub;
  }

  /** Move, replace or (undefined) remove a live query's page; false when no query has that tx. */
  movePage(conn: Subscriber, tx: string, page: Page | undefined): boolean {
    const sub = this.subs.get(conn, tx);
    if (!sub) return false;
    // Changes not yet flushed (a congested socket) go out first: the page answer is computed against what the client holds.
    if (sub.pending) {
      sub.flush(this.state);
      this.pending.unmark(sub);
    }
    sub.movePage(this.stateFor(conn), page);
    return true;
  }

  cancel(conn: Subscriber, tx: string): boolean {
    const sub = this.subs.get(conn, tx);
    if (!sub) return false;
    this.subs.delete(conn, tx);
    this.index(sub, false);
    this.pending.unmark(sub);
    return true;
  }

  dropConnection(conn: Subscriber): void {
    for (const sub of this.subs.drop(conn)) this.index(sub, false);
    this.pending.dropConnection(conn);
  }

  /**
   * Writer listener: route each change to the queries it can affect, then flush. A batch of one change
   * (one SET fanned out to every subscriber) is answered as it is routed: each query is touched once by it,
   * so its response is final at once, and the first subscriber's frame is written before the thousandth
   * query has been looked at. A batch of several changes is applied to every query first, then flushed:
   * one response per query for the whole batch.
   */
  onChanges(changes: readonly Change[]): void {
    const now = changes.length === 1;
    for (const c of changes) {
      const idx = this.types.get(c.itemType);
      if (!idx) continue;
      for (const sub of idx.scan) this.touch(sub, c.id, c.next, now);
      const byId = idx.byId.get(c.id);
      if (byId) for (const sub of byId) this.touch(sub, c.id, c.next, now);
      for (const [field, byValue] of idx.byField) {
        const before = c.prev === undefined ? undefined : valueKey(c.prev[field]);
        const after = c.next === undefined ? undefined : valueKey(c.next[field]);
        // A query has one field value: it is under `before` or `after`, never both, so touched once.
        if (before !== undefined) {
          const subs = byValue.get(before);
          if (subs) for (const sub of subs) this.touch(sub, c.id, c.next, now);
        }
        if (after !== undefined && after !== before) {
          const subs = byValue.get(after);
          if (subs) for (const sub of subs) this.touch(sub, c.id, c.next, now);
        }
      }
    }
    this.flush();
    const failed = this.sendFailure;
    if (failed) {
      this.sendFailure = undefined;
      throw failed.err;
    }
  }

  /** Send every pending response whose connection can take it. */
  flush(): void {
    this.pending.flush();
  }

  /**
   * Apply a change to one query. `now`: send its response at once, unless the connection is congested
   * or the query already waits in `pending` for its socket to drain (then it joins that response).
   */
  private touch(sub: QuerySubscription, id: string, next: MItem | undefined, now: boolean): void {
    const conn = sub.conn;
    if (this.pins.has(conn)) return; // wound back: the past does not change
    const wasPending = sub.pending;
    if (!sub.update(id, next)) return;
    if (!now || wasPending || conn.congested()) return this.pending.mark(sub);
    try {
      sub.flush(this.state);
    } catch (err) {
      // Every other query still gets the change; the first failure is thrown once they have (onChanges).
      this.sendFailure ??= { err };
    }
  }

  private index(sub: QuerySubscription, add: boolean): void {
    let idx = this.types.get(sub.itemType);
    if (!idx) {
      if (!add) return;
      this.types.set(sub.itemType, (idx = { scan: new Set(), byId: new Map(), byField: new Map() }));
    }
    const f = sub.filter;
    if (f.ids) {
      for (const id of f.ids) toggle(idx.byId, id, sub, add);
    } else if (f.eq && f.eq.length > 0) {
      const [field, value] = f.eq[0]!;
      let byValue = idx.byField.get(field);
      if (!byValue) {
        if (!add) return;
        idx.byField.set(field, (byValue = new Map()));
      }
      toggle(byValue, valueKey(value), sub, add);
      if (byValue.size === 0) idx.byField.delete(field);
    } else if (add) idx.scan.add(sub);
    else idx.scan.delete(sub);
  }
}

function toggle<K>(map: Map<K, Set<QuerySubscription>>, key: K, sub: QuerySubscription, add: boolean): void {
  let set = map.get(key);
  if (add) {
    if (!set) map.set(key, (set = new Set()));
    set.add(sub);
  } else if (set) {
    set.delete(sub);
    if (set.size === 0) map.delete(key);
  }
}
