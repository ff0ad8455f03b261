// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from './json-equal.js';
import type { MItem } from '@myko/protocol';
import type { StoredEvent } from '../store/event-store.js';
import { withIds, withoutId, type Backrefs } from './backrefs.js';

/** What one applied event did to current state. `prev`/`next` undefined = absent. */
export interface Change {
  itemType: string;
  id: string;
  prev: MItem | undefined;
  next: MItem | undefined;
  event: StoredEvent;
  /**
   * Changed through a reverse reference (core/backrefs.ts): `event` is the
   * cause, an event of another item. Consumers of events (the log tail,
   * EventRPC versions) skip it; consumers of items (queries) do not.
   */
  derived?: true;
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

/**
 * Whether a SET changes nothing. Items carry their hash (WIRE.md 1.5), a member `equal` compares like
 * any other: two whose hashes differ are unequal without the deep comparison, which allocates both
 * items' key lists (on a boot's replay, every event but an item's first was compared).
 */
function sameItem(prev: MItem, next: MItem): boolean {
  const a = prev.hash;
  const b = next.hash;
  if (typeof a === 'string' && typeof b === 'string' && a !== b) return false;
  return equal(prev, next);
}

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
  /** Reverse-reference fields to keep (core/backrefs.ts); set once the registry is complete. */
  backrefs: Backrefs | undefined;

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

  /**
   * Reduce one event. Returns null when it changes nothing (equal SET, DEL of
   * an absent item). Items it changes through reverse references (a Target
   * whose `actionIds` an Action joins or leaves) are changed too and, when
   * `derived` is given, reported there (their `event` is the cause).
   */
  apply(event: StoredEvent, derived?: Change[]): Change | null {
    const { itemType } = event;
    const id = event.item.id;
    let items = this.types.get(itemType);
    const prev = items?.get(id);
    if (event.changeType === 'DEL') {
      if (prev === undefined) return null;
      items!.delete(id);
      this.reindex(itemType, id, prev, undefined);
      this.followRefs(itemType, id, prev, undefined, event, derived);
      return { itemType, id, prev, next: undefined, event };
    }
    const next = this.backrefs?.onTarget.has(itemType) ? this.withBackrefs(itemType, event.item) : event.item;
    if (prev !== undefined && sameItem(prev, next)) return null;
    if (!items) this.types.set(itemType, (items = new Map()));
    items.set(id, next);
    this.reindex(itemType, id, prev, next);
    this.followRefs(itemType, id, prev, next, event, derived);
    return { itemType, id, prev, next, event };
  }

  /**
   * Boot, after checkpoint and replay: every reverse-reference field made whole (a no-op when already
   * so; a checkpoint that holds items as sent lacks them). Returns the items it changed.
   */
  refreshBackrefs(): { itemType: string; id: string }[] {
    const changed: { itemType: string; id: string }[] = [];
    for (const itemType of this.backrefs?.onTarget.keys() ?? [])
      for (const item of [...this.all(itemType)]) {
        const next = this.withBackrefs(itemType, item);
        if (next !== item) this.load(itemType, next), changed.push({ itemType, id: item.id });
      }
    return changed;
  }

  private withBackrefs(itemType: string, item: MItem): MItem {
    let out = item;
    for (const ref of this.backrefs!.onTarget.get(itemType)!) out = withIds(out, ref.field, this.lookup(ref.from, ref.via, item.id));
    return out;
  }

  /** A referencing item changed: the items it named before and names now gain or lose its id. */
  private followRefs(itemType: string, id: string, prev: MItem | undefined, next: MItem | undefined, event: StoredEvent, derived: Change[] | undefined): void {
    const feeds = this.backrefs?.onSource.get(itemType);
    if (!feeds) return;
    for (const { target, ref } of feeds) {
      const before = prev?.[ref.via];
      const after = next?.[ref.via];
      if (before === after) continue;
      if (typeof before === 'string') this.replaceDerived(target, before, (t) => withoutId(t, ref.field, id), event, derived);
      if (typeof after === 'string') this.replaceDerived(target, after, (t) => withIds(t, ref.field, [id]), event, derived);
    }
  }

  private replaceDerived(itemType: string, id: string, change: (item: MItem) => MItem, event: StoredEvent, derived: Change[] | undefined): void {
    const items = this.types.get(itemType);
    const prev = items?.get(id);
    if (prev === undefined) return; // it takes the list when it arrives (withBackrefs)
    const next = change(prev);
    if (next === prev) return;
    items!.set(id, next);
    this.reindex(itemType, id, prev, next);
    derived?.push({ itemType, id, prev, next, event, derived: true });
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
