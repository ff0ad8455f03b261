import type { MItem } from '@myko/protocol';
import { allocTextFrame, type TextFrame } from './ws-frame.js';

/**
 * The JSON text of an item (as UTF-8 bytes), computed once per item object and kept on it.
 *
 * Why on the object: items in state are never changed in place (a SET, a DEL
 * or a reverse-reference update puts a new object in the state's map), so the
 * object's identity is the cache key and invalidation is free: a changed item
 * is a new object without text. Nothing is done on the write path; the text
 * is made the first time a response needs it (a snapshot, a diff) and dies
 * with the object. A WeakMap was measured to cost GC on ingest; this is one
 * property slot plus a Buffer (its bytes, off the JS heap, and about 100 B
 * of object) per item that has been sent at least once.
 *
 * The property is a symbol and non-enumerable: JSON.stringify, Object.keys,
 * for…in, jsonEqual and cbor-x never see it, and an object spread or
 * Object.assign (withIds builds a new item that way) does not copy it, so a
 * derived item never inherits its parent's stale text.
 */
const TEXT = Symbol('myko.itemJson');

type WithText = MItem & { [TEXT]?: Buffer };

/** The item's JSON as UTF-8 bytes, made once per item object. */
export function itemJson(item: MItem): Buffer {
  const cached = (item as WithText)[TEXT];
  if (cached !== undefined) return cached;
  const text = Buffer.from(JSON.stringify(item));
  // A frozen or sealed item (a handler's own object) is answered without caching.
  if (Object.isExtensible(item)) Object.defineProperty(item, TEXT, { value: text, enumerable: false, writable: false, configurable: false });
  return text;
}

/**
 * One frame as UTF-8 bytes: `head`, then
 * `{"itemType":T,"item":I1},{"itemType":T,"item":I2},…` from the items'
 * cached bytes, then `tail`. One allocation of the exact size and one copy of
 * each item's bytes: no joined string to flatten, no UTF-8 length scan and
 * no re-encoding of the whole frame when it is sent. Sent as a text frame
 * (gateway/connection.ts), the bytes are those of the same frame built as a string.
 */
export function jsonFrameWithItems(head: string, itemType: string, items: readonly MItem[], tail: string): Buffer {
  return textFrameWithItems(head, itemType, items, tail).payload;
}

/** One entry: consecutive frames are nearly always of one item type. */
let lastOpen: { itemType: string; bytes: Buffer } = { itemType: '', bytes: Buffer.from('{"itemType":"","item":') };

/** `{"itemType":T,"item":` as bytes. */
function openBytes(itemType: string): Buffer {
  if (lastOpen.itemType !== itemType) lastOpen = { itemType, bytes: Buffer.from(`{"itemType":${JSON.stringify(itemType)},"item":`) };
  return lastOpen.bytes;
}

/**
 * `jsonFrameWithItems` with its WebSocket header in front, in the same
 * buffer (wire/ws-frame.ts): a 2 MB first response is then neither copied
 * again nor written as two pieces. `sentOnce`: see allocTextFrame.
 */
export function textFrameWithItems(head: string, itemType: string, items: readonly MItem[], tail: string, sentOnce = false): TextFrame {
  const n = items.length;
  const open = openBytes(itemType);
  const texts = new Array<Buffer>(n);
  let size = Buffer.byteLength(head) + Buffer.byteLength(tail) + (n > 0 ? n * (open.length + 2) - 1 : 0);
  for (let i = 0; i < n; i++) size += (texts[i] = itemJson(items[i]!)).length;
  const frame = allocTextFrame(size, sentOnce);
  const out = frame.bytes;
  let at = frame.offset;
  at += out.write(head, at);
  for (let i = 0; i < n; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    // TypedArray#set: cheaper per call than Buffer#copy for these small pieces (measured).
    out.set(open, at);
    at += open.length;
    const text = texts[i]!;
    out.set(text, at);
    at += text.length;
    out[at++] = 0x7d; // }
  }
  at += out.write(tail, at);
  if (at !== out.length) throw new Error(`textFrameWithItems: wrote ${at - frame.offset} of ${size} bytes`);
  return frame;
}
