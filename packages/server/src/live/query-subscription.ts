import type { MItem, QueryWindow } from '@myko/protocol';
import type { QueryFilter } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';
import { sortedInsert, sortedRemove } from './sorted-ids.js';
import { diffFrame, diffJson, seedResultFrame, seedResultJson, wrappedJson, type DiffParts } from '../wire/frames.js';

/**
 * One live query of one connection. It keeps the set of matching ids (and,
 * when windowed, those ids in order) and, between flushes, which ids were
 * touched and whether each was in the result the client last saw. A flush
 * turns that into one response: for the current dialect a diff, for the seed
 * dialect the whole result. Pending state is bounded by the number of distinct
 * ids, however many events arrive: that is the coalescing for slow readers.
 */
export class QuerySubscription {
  readonly members = new Set<string>();
  private sorted: string[] | undefined;
  /** id → was it in the result the client last saw. */
  private readonly touched = new Map<string, boolean>();
  /** Windowed: the ids of the slice the client last saw. */
  private sentWindow: string[] = [];
  sequence = 0;

  constructor(
    readonly conn: Subscriber,
    readonly tx: string,
    readonly queryId: string,
    readonly itemType: string,
    readonly filter: QueryFilter,
    public window: QueryWindow | undefined,
  ) {}

  get pending(): boolean {
    return this.touched.size > 0;
  }

  /** Fill the result from state: ids hint, then an equality index, else a scan. */
  load(state: StateReader): void {
    const f = this.filter;
    const consider = (item: MItem | undefined) => {
      if (item && f.match(item)) this.members.add(item.id);
    };
    if (f.ids) for (const id of f.ids) consider(state.get(this.itemType, id));
    else if (f.eq && f.eq.length > 0) {
      const [field, value] = f.eq[0]!;
      for (const id of state.lookup(this.itemType, field, value)) consider(state.get(this.itemType, id));
    } else for (const item of state.all(this.itemType)) consider(item);
    if (this.window) this.sorted = [...this.members].sort();
  }

  /** Apply one changed item; returns true when the client may need to hear of it. */
  update(id: string, next: MItem | undefined): boolean {
    const wasIn = this.members.has(id);
    const nowIn = next !== undefined && this.filter.match(next);
    if (!wasIn && !nowIn) return false;
    if (!this.touched.has(id)) this.touched.set(id, wasIn);
    if (wasIn && !nowIn) {
      this.members.delete(id);
      if (this.sorted) sortedRemove(this.sorted, id);
    } else if (!wasIn && nowIn) {
      this.members.add(id);
      if (this.sorted) sortedInsert(this.sorted, id);
    }
    return true;
  }

  setWindow(window: QueryWindow | undefined): void {
    this.window = window;
    this.sorted = window ? [...this.members].sort() : undefined;
  }

  /** The first response (sequence 0): the whole result, or the window's slice. */
  snapshot(state: StateReader): void {
    this.touched.clear();
    this.sequence = 0;
    if (this.conn.dialect === 'seed') return this.sendSeed(state);
    const ids = this.window ? this.slice() : [...this.members];
    if (this.window) this.sentWindow = ids;
    this.sendDiff(state, ids, [], undefined);
  }

  /** Send what changed since the last response; nothing when nothing visible changed. */
  flush(state: StateReader, jsonCache: Map<MItem, string>): void {
    if (this.touched.size === 0) return;
    if (this.conn.dialect === 'seed') {
      let visible = false;
      for (const [id, wasIn] of this.touched) if (wasIn || this.members.has(id)) visible = true;
      this.touched.clear();
      if (visible) this.sendSeed(state);
      return;
    }
    let upserts: string[];
    let deletes: string[];
    if (this.window) {
      const slice = this.slice();
      const inSlice = new Set(slice);
      const sent = new Set(this.sentWindow);
      deletes = this.sentWindow.filter((id) => !inSlice.has(id));
      upserts = slice.filter((id) => !sent.has(id) || this.touched.has(id));
      this.sentWindow = slice;
    } else {
      upserts = [];
      deletes = [];
      for (const [id, wasIn] of this.touched) {
        if (this.members.has(id)) upserts.push(id);
        else if (wasIn) deletes.push(id);
      }
    }
    this.touched.clear();
    if (upserts.length === 0 && deletes.length === 0) return;
    this.sequence++;
    this.sendDiff(state, upserts, deletes, jsonCache);
  }

  /** Move the window and answer with what entered and left it (always answered: it is a request). */
  moveWindow(state: StateReader, window: QueryWindow | undefined): void {
    const before = this.window ? this.sentWindow : [...this.members];
    this.setWindow(window);
    const now = window ? this.slice() : [...this.members];
    const had = new Set(before);
    const has = new Set(now);
    const upserts = now.filter((id) => !had.has(id) || this.touched.has(id));
    const deletes = before.filter((id) => !has.has(id));
    this.sentWindow = window ? now : [];
    this.touched.clear();
    this.sequence++;
    this.sendDiff(state, upserts, deletes, undefined);
  }

  private slice(): string[] {
    const w = this.window!;
    return this.sorted!.slice(w.offset, w.offset + w.limit);
  }

  private sendDiff(state: StateReader, ids: string[], deletes: string[], cache: Map<MItem, string> | undefined): void {
    const items: MItem[] = [];
    for (const id of ids) {
      const item = state.get(this.itemType, id);
      if (item) items.push(item);
    }
    const parts: DiffParts = {
      tx: this.tx,
      sequence: this.sequence,
      itemType: this.itemType,
      upserts: items,
      deletes,
      totalCount: this.members.size,
      window: this.window,
    };
    this.conn.send(
      () => diffFrame(parts),
      () => diffJson(parts, items.map((item) => cachedJson(cache, this.itemType, item))),
    );
  }

  private sendSeed(state: StateReader): void {
    const items: MItem[] = [];
    for (const id of this.members) {
      const item = state.get(this.itemType, id);
      if (item) items.push(item);
    }
    this.conn.send(
      () => seedResultFrame(this.tx, this.itemType, items),
      () => seedResultJson(this.tx, items.map((item) => wrappedJson(this.itemType, item))),
    );
  }
}

function cachedJson(cache: Map<MItem, string> | undefined, itemType: string, item: MItem): string {
  if (!cache) return wrappedJson(itemType, item);
  let s = cache.get(item);
  if (s === undefined) cache.set(item, (s = wrappedJson(itemType, item)));
  return s;
}
