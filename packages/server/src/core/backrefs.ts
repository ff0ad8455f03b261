import { copyWith, type MItem } from '@myko/protocol';
import type { ItemTypeDef } from './registry.js';
import type { DerivedFields } from '../store/event-store.js';

/**
 * A field that lists the items of another type naming this one: a
 * Rocketship Target's `actionIds` are the Actions whose `targetId` is the
 * target (WIRE.md 6.1: the TouchDesigner executor sends Targets without
 * them). Declared on the item type (`ItemTypeDef.backrefs`), kept by State.
 */
export interface Backref {
  /** The array field on this type, e.g. `actionIds`. */
  field: string;
  /** The type whose items point here, e.g. `Action`. */
  from: string;
  /** Their field holding this item's id, e.g. `targetId`. */
  via: string;
}

/**
 * The reverse references of every item type, by both ends.
 *
 * What is stored: state holds the union of the ids the writer sent and the
 * ids of the items that name it now; an item that stops naming it (deleted,
 * or pointed elsewhere) leaves the list. It lives in state, never in the
 * log: the log keeps each event as its sender wrote it, and replaying it
 * rebuilds the same lists. So whatever reads state (queries, their diffs,
 * reports, the ops API, the dashboard) sees lists that are current, and a
 * change of a referencing item is a change (a diff) of the item it names.
 */
export class Backrefs {
  /** itemType → its backref fields. */
  readonly onTarget = new Map<string, Backref[]>();
  /** referencing itemType → the (target type, backref) pairs it feeds. */
  readonly onSource = new Map<string, { target: string; ref: Backref }[]>();

  constructor(defs: Iterable<ItemTypeDef>) {
    for (const def of defs)
      for (const ref of def.backrefs ?? []) {
        push(this.onTarget, def.name, ref);
        push(this.onSource, ref.from, { target: def.name, ref });
      }
  }

  get empty(): boolean {
    return this.onTarget.size === 0;
  }

  /** Each type's reverse-reference fields, as a checkpoint records them (store/event-store.ts DerivedFields). */
  fields(): DerivedFields {
    const out: DerivedFields = {};
    for (const [itemType, refs] of this.onTarget) out[itemType] = refs.map((r) => r.field);
    return out;
  }
}

function push<V>(map: Map<string, V[]>, key: string, v: V): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}

/** `item` with `field` holding `ids` added to what it already lists (a new object only when something is added). */
export function withIds(item: MItem, field: string, ids: Iterable<string>): MItem {
  const had = item[field];
  const list: string[] = Array.isArray(had) ? (had as string[]) : [];
  let out: string[] | undefined;
  const seen = new Set(list);
  for (const id of ids)
    if (!seen.has(id)) {
      seen.add(id);
      (out ??= [...list]).push(id);
    }
  if (out) return copyWith(item, field, out);
  return Array.isArray(had) ? item : copyWith(item, field, list);
}

/** `item` with `id` removed from `field`, or the same object when it was not there. */
export function withoutId(item: MItem, field: string, id: string): MItem {
  const had = item[field];
  if (!Array.isArray(had) || !had.includes(id)) return item;
  return copyWith(item, field, had.filter((x) => x !== id));
}
