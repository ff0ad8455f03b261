// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from './json-equal.js';
import type { MItem } from '@myko/protocol';
import type { StoredEvent } from '../store/event-store.js';

/** What one applied event did to current state. `prev`/`next` undefined = absent. */
export interface Change {
  itemType: string;
  id: string;
  prev: MItem | undefined;
  next: MItem | undefined;
  event: StoredEvent;
}

/** Read-only view handed to queries, reports and command handlers. */
export interface StateReader {
  get(itemType: string, id: string): MItem | undefined;
  all(itemType: string): IterableIterator<MItem>;
  count(itemType: string): number;
  itemTypes(): IterableIterator<string>;
  /** Ids of items whose `field` equals `value` (builds an index on first use). */
  lookup(itemType: string, field: string, value: unknown): ReadonlySet<string>;
}

const emptySet: ReadonlySet<string> = new Set();

/** A stable key for an indexed field value: cheap for the scalars that ids and foreign keys are. */
export function valueKey(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return 's' + v;
    case 'number':
    case 'boolean':
      return typeof v + String(v);
    case 'undefined':
      return 'u';
    default:
      return v === null ? 'n' : 'j' + JSON.stringify(v);
  }
}

/**
 * Current state: `Map<itemType, Map<id, item>>`, reduced from the log (SET
 * replaces the whole item, DEL removes it), plus secondary field indexes
 * created on demand by `lookup` and kept in step by `apply`.
 */
export class State implements StateReader {
  private readonly types = new Map<string, Map<string, MItem>>();
  private readonly indexes = new Map<string, Map<string, Map<string, Set<string>>>>();

  get(itemType: string, id: string): MItem | undefined {
    return this.types.get(itemType)?.get(id);
  }

  all(itemType: string): IterableIterator<MItem> {
    return (this.types.get(itemType) ?? new Map<string, MItem>()).values();
  }

  count(itemType: string): number {
    return this.types.get(itemType)?.size ?? 0;
  }

  itemTypes(): IterableIterator<string> {
    return this.types.keys();
  }

  lookup(itemType: string, field: string, value: unknown): ReadonlySet<string> {
    return this.ensureIndex(itemType, field).get(valueKey(value)) ?? emptySet;
  }

  /** Reduce one event. Returns null when it changes nothing (equal SET, DEL of an absent item). */
  apply(event: StoredEvent): Change | null {
    const { itemType } = event;
    const id = event.item.id;
    let items = this.types.get(itemType);
    const prev = items?.get(id);
    if (event.changeType === 'DEL') {
      if (prev === undefined) return null;
      items!.delete(id);
      this.reindex(itemType, id, prev, undefined);
      return { itemType, id, prev, next: undefined, event };
    }
    if (prev !== undefined && equal(prev, event.item)) return null;
    if (!items) this.types.set(itemType, (items = new Map()));
    items.set(id, event.item);
    this.reindex(itemType, id, prev, event.item);
    return { itemType, id, prev, next: event.item, event };
  }

  /** Boot: put an item back from a checkpoint without producing a change. */
  load(itemType: string, item: MItem): void {
    let items = this.types.get(itemType);
    if (!items) this.types.set(itemType, (items = new Map()));
    const prev = items.get(item.id);
    items.set(item.id, item);
    this.reindex(itemType, item.id, prev, item);
  }

  private ensureIndex(itemType: string, field: string): Map<string, Set<string>> {
    let byField = this.indexes.get(itemType);
    if (!byField) this.indexes.set(itemType, (byField = new Map()));
    let index = byField.get(field);
    if (!index) {
      index = new Map();
      byField.set(field, index);
      for (const item of this.all(itemType)) addTo(index, valueKey(item[field]), item.id);
    }
    return index;
  }

  private reindex(itemType: string, id: string, prev: MItem | undefined, next: MItem | undefined): void {
    const byField = this.indexes.get(itemType);
    if (!byField) return;
    for (const [field, index] of byField) {
      const before = prev === undefined ? undefined : valueKey(prev[field]);
      const after = next === undefined ? undefined : valueKey(next[field]);
      if (before === after) continue;
      if (before !== undefined) {
        const set = index.get(before);
        set?.delete(id);
        if (set?.size === 0) index.delete(before);
      }
      if (after !== undefined) addTo(index, after, id);
    }
  }
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(id);
}
