/**
 * A map keyed by (itemType, id), as a map of maps. A joined key
 * (`itemType + '\0' + id`) is a new string at every lookup, which the map must
 * flatten and hash again; an item's id string is hashed once and keeps its
 * hash, so on the event path (several lookups per event) this is the cheaper
 * key, and it stores no joined string per item.
 */
export class ItemMap<V> {
  private readonly types = new Map<string, Map<string, V>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(itemType: string, id: string): V | undefined {
    return this.types.get(itemType)?.get(id);
  }

  set(itemType: string, id: string, value: V): void {
    let ids = this.types.get(itemType);
    if (!ids) this.types.set(itemType, (ids = new Map()));
    const before = ids.size;
    ids.set(id, value);
    this.count += ids.size - before;
  }

  /** Every entry, type by type, without allocating per entry (the keys are the map's own). */
  forEach(fn: (itemType: string, id: string, value: V) => void): void {
    this.types.forEach((ids, itemType) => ids.forEach((value, id) => fn(itemType, id, value)));
  }

  /** Every key, type by type; entries added while iterating are visited too (Map iteration order). */
  *keys(): IterableIterator<[itemType: string, id: string]> {
    for (const [itemType, ids] of this.types) for (const id of ids.keys()) yield [itemType, id];
  }

  /** Every entry's value, type by type. */
  *values(): IterableIterator<V> {
    for (const ids of this.types.values()) yield* ids.values();
  }
}
