import type { MItem, QueryWindow } from '@myko/protocol';
import type { ViewDef } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import { jsonEqual } from '../core/json-equal.js';
import type { Subscriber } from './subscriber.js';
import { ResultStream } from './result-stream.js';
import { offsetPage, type Page } from './result-page.js';

/** A view's own code failed (built a bad item, or threw): answered with `ws:m:view-error`. */
export class ViewError extends Error {
  override name = 'ViewError';
}

/**
 * One live view of one connection. Unlike a query its items are not in
 * state: the view builds them, so the last built version of each is held
 * here, and a rebuild is compared with it item by item. Only items that
 * really changed are marked, so an input change that leaves every view item
 * equal sends nothing.
 */
export class ViewSubscription extends ResultStream {
  private readonly items = new Map<string, MItem>();

  constructor(
    conn: Subscriber,
    tx: string,
    readonly def: ViewDef,
    readonly params: Record<string, unknown>,
    window: QueryWindow | undefined,
  ) {
    super(conn, tx, 'view', def.itemType, offsetPage(window));
  }

  protected lookup(id: string): MItem | undefined {
    return this.items.get(id);
  }

  load(state: StateReader): void {
    for (const item of this.buildAll(state)) {
      this.items.set(item.id, item);
      this.members.add(item.id);
    }
    this.membersLoaded();
  }

  /** Answer again from `state` (windback, or back to live): rebuilt and sent as sequence 0. */
  reload(state: StateReader): void {
    this.items.clear();
    this.resetMembers();
    this.load(state);
    this.snapshot();
  }

  snapshot(): void {
    this.sendSnapshot();
  }

  /** Rebuild everything and mark what differs; true when anything did. */
  rebuild(state: StateReader): boolean {
    const next = new Map<string, MItem>();
    for (const item of this.buildAll(state)) next.set(item.id, item);
    let changed = false;
    for (const id of [...this.items.keys()]) if (!next.has(id)) changed = this.put(id, undefined) || changed;
    for (const [id, item] of next) changed = this.put(id, item) || changed;
    return changed;
  }

  /** Rebuild only these view items (the incremental path); true when any differs. */
  refresh(ids: Iterable<string>, state: StateReader): boolean {
    let changed = false;
    for (const id of ids) {
      let item: MItem | undefined;
      try {
        item = this.def.item!(id, this.params, state);
      } catch (err) {
        throw new ViewError(`${this.def.id} failed: ${(err as Error).message}`);
      }
      if (item !== undefined) checkItem(this.def.id, item);
      if (item !== undefined && item.id !== id) throw new ViewError(`${this.def.id} built the item ${JSON.stringify(item.id)} when asked for ${JSON.stringify(id)}`);
      changed = this.put(id, item) || changed;
    }
    return changed;
  }

  flush(): void {
    this.sendChanges();
  }

  movePage(page: Page | undefined): void {
    this.changePage(page);
  }

  private put(id: string, item: MItem | undefined): boolean {
    const held = this.items.get(id);
    if (item === undefined) {
      if (held === undefined) return false;
      this.items.delete(id);
      return this.mark(id, false);
    }
    if (held !== undefined && jsonEqual(held, item)) return false;
    this.items.set(id, item);
    return this.mark(id, true);
  }

  private buildAll(state: StateReader): MItem[] {
    let built: MItem[];
    try {
      built = [...this.def.build(this.params, state)];
    } catch (err) {
      throw new ViewError(`${this.def.id} failed: ${(err as Error).message}`);
    }
    const seen = new Set<string>();
    for (const item of built) {
      checkItem(this.def.id, item);
      if (seen.has(item.id)) throw new ViewError(`${this.def.id} built two items with the id ${JSON.stringify(item.id)}`);
      seen.add(item.id);
    }
    return built;
  }
}

function checkItem(viewId: string, item: MItem): void {
  if (!item || typeof item !== 'object' || typeof item.id !== 'string' || item.id === '')
    throw new ViewError(`${viewId} built an item without a string id`);
}
