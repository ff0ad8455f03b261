import type { MItem, QueryWindow } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import type { Change, StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';
import { ByConnection } from './by-connection.js';
import { PendingFlushes } from './pending-flushes.js';
import type { Page } from './result-page.js';
import { ViewError, ViewSubscription } from './view-subscription.js';
import { viewErrorFrame } from '../wire/frames.js';
import { PinnedStates } from './pinned-states.js';

export { ViewError } from './view-subscription.js';

/** Request params that are never view params (WIRE.md 6.2: the same as for queries). */
const notParams = new Set(['tx', 'createdAt', 'seq', 'userToken', 'clientId']);

export function viewParams(view: Record<string, unknown>): Record<string, unknown> {
  // A null param means "not given" (as for queries): a schema with optional fields accepts it then.
  // fromEntries defines own properties: a param named __proto__ stays a param, not the object's prototype.
  return Object.fromEntries(Object.entries(view).filter(([k, v]) => !notParams.has(k) && v !== null));
}

export interface ViewRequest {
  tx: string;
  viewId: string;
  /** The request's `view` object as sent (tx and the other non-params are dropped here). */
  view: Record<string, unknown>;
  window: QueryWindow | undefined;
}

/**
 * All live views of the process. A committed batch reaches only the views
 * that depend on one of its item types; the rest never look (a storm of
 * pulses touches no view that does not read Pulse). Within a view, a
 * definition with `affects` rebuilds only the view items a change names;
 * one without is rebuilt whole, once per batch, whatever its size. Either
 * way the result is compared item by item and only what differs is sent,
 * coalesced per connection exactly as queries are.
 */
export class LiveViews {
  private readonly byType = new Map<string, Set<ViewSubscription>>();
  /** The item types each subscription is indexed under. */
  private readonly deps = new Map<ViewSubscription, readonly string[]>();
  private readonly subs = new ByConnection<ViewSubscription>();
  private readonly pending = new PendingFlushes<ViewSubscription>((sub) => sub.flush());

  constructor(
    private readonly state: StateReader,
    private readonly registry: Registry,
    /** Wound-back connections answer from their own state and get no live diffs (live/windback.ts). */
    private readonly pins = new PinnedStates(),
  ) {}

  /** Answer every live view of `conn` again, as sequence 0, from the state it reads now (pinned or live). */
  restate(conn: Subscriber): void {
    const state = this.pins.get(conn) ?? this.state;
    this.pending.forget(conn);
    for (const sub of this.subs.of(conn)) {
      try {
        sub.reload(state);
      } catch (err) {
        this.remove(sub);
        sub.conn.send(() => viewErrorFrame(sub.tx, sub.def.id, (err as Error).message));
      }
    }
  }

  get size(): number {
    return this.subs.size;
  }

  countFor(conn: Subscriber): number {
    return this.subs.countFor(conn);
  }

  has(conn: Subscriber, tx: string): boolean {
    return this.subs.has(conn, tx);
  }

  /** Start a live view and send its first response. Throws ViewError when it cannot run. */
  subscribe(conn: Subscriber, req: ViewRequest): ViewSubscription {
    const compiled = this.registry.view(req.viewId);
    if (!compiled) throw new ViewError(`unknown view ${req.viewId}`);
    const params = viewParams(req.view);
    const bad = compiled.check(params);
    if (bad) throw new ViewError(`${req.viewId}: ${bad}`);
    const def = compiled.def;
    let deps: readonly string[];
    try {
      deps = def.dependsOn(params);
    } catch (err) {
      throw new ViewError(`${req.viewId}: ${(err as Error).message}`);
    }
    const sub = new ViewSubscription(conn, req.tx, def, params, req.window);
    sub.load(this.pins.get(conn) ?? this.state);
    this.subs.add(conn, req.tx, sub);
    const types = [...new Set(deps)];
    this.deps.set(sub, types);
    for (const t of types) {
      let set = this.byType.get(t);
      if (!set) this.byType.set(t, (set = new Set()));
      set.add(sub);
    }
    sub.snapshot();
    return sub;
  }

  /** Move, replace or (undefined) remove a live view's page; false when no view has that tx. */
  movePage(conn: Subscriber, tx: string, page: Page | undefined): boolean {
    const sub = this.subs.get(conn, tx);
    if (!sub) return false;
    if (sub.pending) {
      sub.flush();
      this.pending.unmark(sub);
    }
    sub.movePage(page);
    return true;
  }

  cancel(conn: Subscriber, tx: string): boolean {
    const sub = this.subs.get(conn, tx);
    if (!sub) return false;
    this.remove(sub);
    return true;
  }

  dropConnection(conn: Subscriber): void {
    for (const sub of this.subs.drop(conn)) this.unindex(sub);
    this.pending.dropConnection(conn);
  }

  /** Writer listener: recompute the views the batch can affect, then flush. */
  onChanges(changes: readonly Change[]): void {
    const affected = new Map<ViewSubscription, Change[]>();
    for (const c of changes) {
      const subs = this.byType.get(c.itemType);
      if (!subs) continue;
      for (const sub of subs) {
        if (this.pins.has(sub.conn)) continue; // wound back: the past does not change
        let list = affected.get(sub);
        if (!list) affected.set(sub, (list = []));
        list.push(c);
      }
    }
    for (const [sub, list] of affected) this.recompute(sub, list);
    this.flush();
  }

  /** Send every pending response whose connection can take it. */
  flush(): void {
    this.pending.flush();
  }

  private recompute(sub: ViewSubscription, changes: Change[]): void {
    const def = sub.def;
    let changed: boolean;
    try {
      const ids = def.affects ? affectedIds(sub, changes, this.state) : undefined;
      changed = ids ? sub.refresh(ids, this.state) : sub.rebuild(this.state);
    } catch (err) {
      // The client's subscription ends with the error (the reference client errors the observable): end ours too.
      const message = err instanceof ViewError ? err.message : `${def.id} failed: ${(err as Error).message}`;
      this.remove(sub);
      sub.conn.send(() => viewErrorFrame(sub.tx, def.id, message));
      return;
    }
    if (!changed) return;
    this.pending.mark(sub);
  }

  private remove(sub: ViewSubscription): void {
    this.subs.delete(sub.conn, sub.tx);
    this.pending.unmark(sub);
    this.unindex(sub);
  }

  private unindex(sub: ViewSubscription): void {
    for (const t of this.deps.get(sub) ?? []) {
      const set = this.byType.get(t);
      set?.delete(sub);
      if (set?.size === 0) this.byType.delete(t);
    }
    this.deps.delete(sub);
  }
}

/** The view item ids a batch can affect, or undefined when one change asks for a whole rebuild. */
function affectedIds(sub: ViewSubscription, changes: Change[], state: StateReader): Set<string> | undefined {
  const ids = new Set<string>();
  for (const c of changes) {
    let found: Iterable<string> | undefined;
    try {
      found = sub.def.affects!(c, sub.params, state);
    } catch (err) {
      throw new ViewError(`${sub.def.id} failed: ${(err as Error).message}`);
    }
    if (found === undefined) return undefined;
    for (const id of found) ids.add(id);
  }
  return ids;
}
