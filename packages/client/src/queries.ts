import { Kind, type MItem, type MWrappedItem, type QueryDiff, type QueryErrorData, type QueryWindow, type ViewErrorData } from '@myko/protocol';
import type { WireFrame } from './codec.js';
import { QueryError, ViewError } from './errors.js';
import { randomId } from './ids.js';
import { LiveHandle, safely, type Listener } from './live.js';
import { queryKey, type ItemLike, type QuerySpec } from './query-spec.js';

/**
 * Queries and views (WIRE.md 6.3) are the same machinery with other frame
 * kinds: one LiveQueries per kind. A view's spec is held in query form
 * (`queryId` = viewId, `queryItemType` = viewItemType).
 */
export type LiveKind = 'query' | 'view';

const kinds = {
  query: { window: Kind.QueryWindow, cancel: Kind.QueryCancel },
  view: { window: Kind.ViewWindow, cancel: Kind.ViewCancel },
} as const;

/** A live query's result at one moment. A new object (and a new Map) on every change. */
export interface QueryResult<T extends ItemLike = MItem> {
  /** id → item. */
  readonly items: ReadonlyMap<string, T>;
  /**
   * The same items as an array. Windowed: in the server's page order
   * (`windowOrder`, WIRE.md 6.2), else by id; otherwise in arrival order.
   */
  readonly values: readonly T[];
  /** Size of the whole result; with a window, larger than `items.size`. */
  readonly totalCount: number;
  readonly window: QueryWindow | undefined;
  /** Server sequence of the response this result reflects (0: a full snapshot). */
  readonly sequence: number;
}

/** One change as the server sent it, items unwrapped. */
export interface QueryChange<T extends ItemLike = MItem> {
  /**
   * true: drop everything held and take `upserts` as the whole result. Sent
   * for sequence 0: the first response, a response after a reconnect, or the
   * catch-up a late watcher gets.
   */
  readonly reset: boolean;
  readonly sequence: number;
  readonly upserts: readonly T[];
  readonly deletes: readonly string[];
  readonly totalCount: number;
  readonly window: QueryWindow | undefined;
}

/** One server subscription (one tx), shared by every watcher of an equal spec. */
class SharedQuery {
  items = new Map<string, MItem>();
  /** Undefined until the sequence-0 response of the current socket arrives. */
  sequence: number | undefined;
  /** Windowed: the page's ids in order, from the last `windowOrder` change. */
  order: string[] | undefined;
  totalCount = 0;
  result: QueryResult | undefined;
  readonly results = new Set<Listener<QueryResult>>();
  readonly diffs = new Set<Listener<QueryChange>>();

  constructor(
    readonly kind: LiveKind,
    readonly tx: string,
    public key: string | undefined,
    readonly spec: QuerySpec<ItemLike>,
  ) {}

  get refs(): number {
    return this.results.size + this.diffs.size;
  }

  frame(): WireFrame {
    const { queryId, queryItemType, params, window } = this.spec;
    const w = window ? { window } : {};
    if (this.kind === 'view')
      return { event: Kind.View, data: { viewId: queryId, viewItemType: queryItemType, view: { ...params, tx: this.tx, createdAt: new Date().toISOString() }, ...w } };
    return { event: Kind.Query, data: { queryId, queryItemType, query: { ...params, tx: this.tx }, ...w } };
  }

  /** Apply a response; false when it does not follow the last one (the caller resyncs). */
  apply(d: QueryDiff): boolean {
    const reset = d.sequence === 0;
    if (!reset && (this.sequence === undefined || d.sequence !== this.sequence + 1)) return false;
    // Sequence 0 replaces the local copy: after a reconnect the same tx starts over at 0.
    const items = reset ? new Map<string, MItem>() : new Map(this.items);
    for (const id of d.deletes) items.delete(id);
    const upserts: MItem[] = [];
    for (const w of d.upserts as MWrappedItem[]) {
      items.set(w.item.id, w.item);
      upserts.push(w.item);
    }
    this.items = items;
    this.sequence = d.sequence;
    this.totalCount = d.totalCount;
    const order = Array.isArray(d.changes) ? d.changes.find((c) => c?.kind === 'windowOrder') : undefined;
    this.order = order && Array.isArray(order.ids) ? order.ids : undefined;
    // A cursor page has no offset window; the order entry still says the subscription is paged.
    this.spec.window = d.window ?? order?.window ?? undefined;
    this.result = makeResult(items, d.totalCount, this.spec.window, d.sequence, this.order);
    const change: QueryChange = { reset, sequence: d.sequence, upserts, deletes: d.deletes, totalCount: d.totalCount, window: this.spec.window };
    for (const l of this.results) safely(() => l.next(this.result!));
    for (const l of this.diffs) safely(() => l.next(change));
    return true;
  }

  /** What a watcher that joins late needs to catch up: the whole current result as a reset. */
  catchUp(): QueryChange | undefined {
    const r = this.result;
    if (!r) return undefined;
    return { reset: true, sequence: r.sequence, upserts: [...r.values], deletes: [], totalCount: r.totalCount, window: r.window };
  }
}

function copySpec(spec: QuerySpec<ItemLike>): QuerySpec<ItemLike> {
  return { queryId: spec.queryId, queryItemType: spec.queryItemType, params: { ...spec.params }, window: spec.window };
}

function makeResult(items: Map<string, MItem>, totalCount: number, window: QueryWindow | undefined, sequence: number, order: string[] | undefined): QueryResult {
  let values: MItem[] | undefined;
  return {
    items,
    get values() {
      // Built on first use: many watchers only read the Map.
      values ??= order
        ? order.flatMap((id) => items.get(id) ?? [])
        : window
          ? [...items.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          : [...items.values()];
      return values;
    },
    totalCount,
    window,
    sequence,
  };
}

/**
 * Every live query of one client, by key (sharing) and by tx (routing
 * responses). Subscriptions are state, not messages: they are sent when
 * created if a socket is open, and all of them again, each with its original
 * tx, whenever a new socket opens.
 */
export class LiveQueries {
  private readonly byKey = new Map<string, SharedQuery>();
  private readonly byTx = new Map<string, SharedQuery>();

  constructor(
    private readonly sendIfOpen: (frame: WireFrame) => void,
    readonly kind: LiveKind = 'query',
  ) {}

  get size(): number {
    return this.byTx.size;
  }

  watch<T extends ItemLike>(spec: QuerySpec<T>): LiveQuery<T> {
    return new LiveQuery<T>(this, copySpec(spec));
  }

  watchDiff<T extends ItemLike>(spec: QuerySpec<T>): LiveQueryDiff<T> {
    return new LiveQueryDiff<T>(this, copySpec(spec));
  }

  isLive(sub: SharedQuery): boolean {
    return sub.refs > 0 && this.byTx.get(sub.tx) === sub;
  }

  /** Attach a listener to the subscription for `spec`, creating it when it is the first. */
  attach<V>(spec: QuerySpec<ItemLike>, kind: 'results' | 'diffs', l: Listener<V>, current?: SharedQuery): { sub: SharedQuery; detach: () => void } {
    let sub = current && this.byTx.get(current.tx) === current ? current : this.byKey.get(queryKey(spec));
    if (!sub) {
      sub = new SharedQuery(this.kind, randomId(), queryKey(spec), { ...spec });
      this.byKey.set(sub.key!, sub);
      this.byTx.set(sub.tx, sub);
      this.sendIfOpen(sub.frame());
    }
    const s = sub;
    const set = s[kind] as unknown as Set<Listener<V>>;
    set.add(l);
    if (kind === 'results' && s.result) l.next(s.result as V);
    if (kind === 'diffs') {
      const c = s.catchUp();
      if (c) l.next(c as V);
    }
    return { sub: s, detach: () => void (set.delete(l) && this.releaseIfUnused(s)) };
  }

  private releaseIfUnused(sub: SharedQuery): boolean {
    if (sub.refs > 0 || this.byTx.get(sub.tx) !== sub) return true;
    this.forget(sub);
    this.sendIfOpen({ event: kinds[this.kind].cancel, data: { tx: sub.tx } });
    return true;
  }

  private forget(sub: SharedQuery): void {
    this.byTx.delete(sub.tx);
    if (sub.key !== undefined && this.byKey.get(sub.key) === sub) this.byKey.delete(sub.key);
  }

  /** Move the window of a live subscription; everyone sharing it sees the new slice. */
  moveWindow(sub: SharedQuery, window: QueryWindow | undefined): void {
    sub.spec.window = window;
    if (sub.key !== undefined && this.byKey.get(sub.key) === sub) this.byKey.delete(sub.key);
    const key = queryKey(sub.spec);
    // An equal subscription already exists: this one stays live but is no longer shared.
    sub.key = this.byKey.has(key) ? undefined : key;
    if (sub.key !== undefined) this.byKey.set(key, sub);
    this.sendIfOpen({ event: kinds[this.kind].window, data: { tx: sub.tx, window: window ?? null } });
  }

  onResponse(d: QueryDiff): void {
    const sub = this.byTx.get(d.tx);
    if (!sub) return; // cancelled meanwhile
    if (!sub.apply(d)) this.resync(sub);
  }

  onError(d: QueryErrorData | ViewErrorData): void {
    const sub = this.byTx.get(d.tx);
    if (!sub) return;
    this.forget(sub);
    const err =
      'viewId' in d
        ? new ViewError(d.message, d.viewId || sub.spec.queryId, d.tx)
        : new QueryError(d.message, d.queryId || sub.spec.queryId, d.tx);
    for (const l of [...sub.results, ...sub.diffs]) safely(() => l.error(err));
    sub.results.clear();
    sub.diffs.clear();
  }

  /** A new socket: every subscription starts over with its tx, and its sequence-0 answer will replace what we hold. */
  onOpen(): void {
    for (const sub of this.byTx.values()) {
      sub.sequence = undefined;
      this.sendIfOpen(sub.frame());
    }
  }

  /** Out of order (should not happen on one socket): cancel and re-ask with the same tx to get a fresh sequence 0. */
  private resync(sub: SharedQuery): void {
    sub.sequence = undefined;
    this.sendIfOpen({ event: kinds[this.kind].cancel, data: { tx: sub.tx } });
    this.sendIfOpen(sub.frame());
  }

  closeAll(): void {
    for (const sub of this.byTx.values()) for (const l of [...sub.results, ...sub.diffs]) safely(() => l.end());
    this.byTx.clear();
    this.byKey.clear();
  }
}

/** Shared by the two handle kinds: which subscription they hold, and the window. */
abstract class QueryHandle<V> extends LiveHandle<V> {
  private sub: SharedQuery | undefined;
  protected abstract readonly kind: 'results' | 'diffs';

  constructor(
    private readonly registry: LiveQueries,
    readonly spec: QuerySpec<ItemLike>,
  ) {
    super();
  }

  protected attach(l: Listener<V>): () => void {
    const { sub, detach } = this.registry.attach(this.spec, this.kind, l, this.sub);
    this.sub = sub;
    return detach;
  }

  /**
   * Move (or with `undefined`, remove) the window: `ws:m:query-window {tx,
   * window}`. The window belongs to the server subscription, so every watcher
   * sharing it sees the new slice.
   */
  setWindow(window: QueryWindow | undefined): void {
    this.spec.window = window;
    if (this.sub && this.registry.isLive(this.sub)) this.registry.moveWindow(this.sub, window);
  }
}

/**
 * A watched query. `subscribe` / `for await` give whole results. Watching is
 * lazy: the server subscription exists while at least one callback or
 * iterator listens, on this handle or on any other of an equal spec.
 */
export class LiveQuery<T extends ItemLike = MItem> extends QueryHandle<QueryResult<T>> {
  protected readonly kind = 'results';
  protected readonly conflate = true;
}

/** The raw changes of a query, for apps that keep their own store. */
export class LiveQueryDiff<T extends ItemLike = MItem> extends QueryHandle<QueryChange<T>> {
  protected readonly kind = 'diffs';
  protected readonly conflate = false;
}
