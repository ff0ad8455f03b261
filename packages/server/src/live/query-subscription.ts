import type { MItem, QueryWindow } from '@myko/protocol';
import type { QueryFilter } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';
import { ResultStream } from './result-stream.js';
import { offsetPage, type Page } from './result-page.js';

/**
 * One live query of one connection: a filter over the items of one type.
 * Which ids match is kept here; the diffs, pages and dialects are the
 * ResultStream's. Items are read from state when a response is built, so a
 * burst of changes to one item sends its latest version once.
 */
export class QuerySubscription extends ResultStream {
  private state: StateReader | undefined;

  constructor(
    conn: Subscriber,
    tx: string,
    readonly queryId: string,
    itemType: string,
    readonly filter: QueryFilter,
    window: QueryWindow | undefined,
  ) {
    super(conn, tx, 'query', itemType, offsetPage(window));
  }

  protected lookup(id: string): MItem | undefined {
    return this.state?.get(this.itemType, id);
  }

  /**
   * The members' items in the members' order, as `load` read them, for the
   * `snapshot` that follows it in the same turn (no second lookup per id).
   * Dropped by any change and once sent.
   */
  private loaded: MItem[] | undefined;

  /**
   * Unpaged from an index or a scan: `loaded` holds the members (their ids are distinct: they come from a
   * map), and `members` is filled once the first response has gone out, not before: the ids are only
   * needed for the diffs that follow, and a first response of 10,000 items starts on the wire sooner.
   * Anything that drops `loaded` first fills the members from it (fillMembers).
   */
  private membersDeferred = false;

  /** Fill the result from state: ids hint, then an equality index, else a scan. */
  load(state: StateReader): void {
    this.state = state;
    const f = this.filter;
    const loaded: MItem[] = [];
    const members = this.members;
    if (f.ids) {
      for (const id of f.ids) {
        const item = state.get(this.itemType, id);
        if (!item || !f.match(item)) continue;
        const before = members.size;
        members.add(item.id);
        if (members.size !== before) loaded.push(item); // an id given twice is one member, in its first place
      }
    } else {
      if (f.eq && f.eq.length > 0) {
        const [field, value] = f.eq[0]!;
        for (const id of state.lookup(this.itemType, field, value)) {
          const item = state.get(this.itemType, id);
          if (item && f.match(item)) loaded.push(item);
        }
      } else for (const item of state.all(this.itemType)) if (f.match(item)) loaded.push(item);
      if (this.page) for (const item of loaded) members.add(item.id);
      else this.membersDeferred = true;
    }
    this.membersLoaded();
    this.loaded = loaded;
  }

  private fillMembers(): void {
    if (!this.membersDeferred) return;
    this.membersDeferred = false;
    for (const item of this.loaded ?? []) this.members.add(item.id);
  }

  /** Answer again from `state` (windback, or back to live): the result is rebuilt and sent as sequence 0. */
  reload(state: StateReader): void {
    this.membersDeferred = false;
    this.loaded = undefined;
    this.resetMembers();
    this.load(state);
    this.snapshot(state);
  }

  /** Apply one changed item; returns true when the client may need to hear of it. */
  update(id: string, next: MItem | undefined): boolean {
    this.fillMembers();
    this.loaded = undefined;
    return this.mark(id, next !== undefined && this.filter.match(next));
  }

  /** The first response (sequence 0): the whole result, or the window's slice. */
  snapshot(state: StateReader): void {
    const loaded = this.state === state ? this.loaded : undefined;
    if (!loaded) this.fillMembers();
    this.loaded = undefined;
    this.state = state;
    this.sendSnapshot(loaded);
    if (this.membersDeferred) {
      // The first response is written; nothing has run in between (one synchronous turn).
      this.membersDeferred = false;
      for (const item of loaded!) this.members.add(item.id);
    }
  }

  /** Send what changed since the last response; nothing when nothing visible changed. */
  flush(state: StateReader): void {
    this.state = state;
    this.sendChanges();
  }

  /** Move, replace (offset ↔ cursor) or, with undefined, remove the page. */
  movePage(state: StateReader, page: Page | undefined): void {
    this.state = state;
    this.changePage(page);
  }
}
