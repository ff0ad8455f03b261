import type { MItem } from '@myko/protocol';

/**
 * The JSON text of an item, computed once per item object and kept on it.
 *
 * Why on the object: items in state are never changed in place (a SET, a DEL
 * or a reverse-reference update puts a new object in the state's map), so the
 * object's identity is the cache key and invalidation is free: a changed item
 * is a new object without text. Nothing is done on the write path; the text
 * is made the first time a response needs it (a snapshot, a diff) and dies
 * with the object. A WeakMap was measured to cost GC on ingest; this is one
 * property slot plus the string (about the size of the item's JSON) per item
 * that has been sent at least once.
 *
 * The property is a symbol and non-enumerable: JSON.stringify, Object.keys,
 * for…in, jsonEqual and cbor-x never see it, and an object spread or
 * Object.assign (withIds builds a new item that way) does not copy it, so a
 * derived item never inherits its parent's stale text.
 */
const TEXT = Symbol('myko.itemJson');

type WithText = MItem & { [TEXT]?: string };

export function itemJson(item: MItem): string {
  const cached = (item as WithText)[TEXT];
  if (cached !== undefined) return cached;
  const text = JSON.stringify(item);
  // A frozen or sealed item (a handler's own object) is answered without caching.
  if (Object.isExtensible(item)) Object.defineProperty(item, TEXT, { value: text, enumerable: false, writable: false, configurable: false });
  return text;
}

/**
 * `[{"itemType":T,"item":I1},{"itemType":T,"item":I2},…]` without the
 * brackets: one join over the items' cached texts, the wrapper written as
 * the separator, so a large result is one flattening pass and no per-item
 * intermediate string.
 */
export function wrappedItemsJson(itemType: string, items: readonly MItem[]): string {
  const n = items.length;
  if (n === 0) return '';
  const open = `{"itemType":${JSON.stringify(itemType)},"item":`;
  const texts = new Array<string>(n);
  for (let i = 0; i < n; i++) texts[i] = itemJson(items[i]!);
  return open + texts.join('},' + open) + '}';
}
