import { canonicalMember, copyWith, type MItem } from '@myko/protocol';
import { rememberDataHash, sha256 } from './identity.js';

/**
 * What canonical order needs of one item shape (its own enumerable keys, in order): the members in
 * sorted order as indexes into `keys` (without `hash`), each member's `"key":` prefix, and how many
 * of them sort before "hash". Items of one type nearly always share a shape, so sorting the keys and
 * quoting them is done once per shape instead of once per event (the sort alone allocated more than
 * the item itself).
 */
interface Shape {
  keys: string[];
  sorted: number[];
  prefixes: string[];
  /** The same with a comma in front, for a member after another: one concatenation fewer per member. */
  commaPrefixes: string[];
  before: number;
}

/** A few recent shapes (a server ingests few types at once); the oldest is replaced. */
const shapes: Shape[] = [];
const SHAPES_MAX = 8;
let nextSlot = 0;

/**
 * True when `for…in` yields exactly `keys`, in order: for a plain object (Object.prototype has no
 * enumerable keys) that is Object.keys. For…in reads V8's enum cache: no array is allocated.
 */
function sameKeys(item: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const k in item) {
    if (i === keys.length || k !== keys[i]) return false;
    i++;
  }
  return i === keys.length;
}

function shapeOf(item: MItem): Shape {
  // For…in also yields inherited enumerable keys, which Object.keys (canonical JSON) leaves out:
  // only a plain object is matched against the remembered shapes.
  const plain = Object.getPrototypeOf(item) === Object.prototype;
  if (plain) for (let s = 0; s < shapes.length; s++) if (sameKeys(item, shapes[s]!.keys)) return shapes[s]!;
  const keys = Object.keys(item);
  const sorted = keys.map((_, i) => i).filter((i) => keys[i] !== 'hash');
  // The same order canonicalJson gives (Array#sort's default: UTF-16 code units).
  sorted.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  const prefixes = sorted.map((i) => JSON.stringify(keys[i]) + ':');
  const shape: Shape = { keys, sorted, prefixes, commaPrefixes: prefixes.map((p) => ',' + p), before: sorted.filter((i) => keys[i]! < 'hash').length };
  if (plain) {
    shapes[nextSlot] = shape;
    nextSlot = (nextSlot + 1) % SHAPES_MAX;
  }
  return shape;
}

/**
 * WIRE.md 1.5: the item's hash is SHA-256 (hex) of the canonical JSON of the
 * item without `hash`. This returns a copy of the item with that hash, serialising it once. With
 * `dataHashToo` (an item that will be stored), the event's dHash (the SHA-256 of the canonical JSON
 * with `hash`) is computed too, and `lastDataHash()` gives it: both texts share every member but
 * one, so the second is spliced from the first's parts.
 */
export function hashItem(item: MItem, dataHashToo: boolean): MItem {
  const { keys, sorted, prefixes, commaPrefixes, before } = shapeOf(item);
  // The members before "hash" in canonical (sorted) order and those after it, each joined once:
  // the text hashed is both, the dHash's text puts the hash member between them.
  let head = '';
  let tail = '';
  for (let j = 0; j < sorted.length; j++) {
    const v = canonicalMember(item[keys[sorted[j]!]!]);
    if (v === undefined) continue;
    if (j < before) head = head === '' ? prefixes[j]! + v : head + commaPrefixes[j]! + v;
    else tail = tail === '' ? prefixes[j]! + v : tail + commaPrefixes[j]! + v;
  }
  const hash = sha256('{' + (head === '' || tail === '' ? head + tail : head + ',' + tail) + '}');
  // The hash is hex: its JSON string needs no escaping.
  lastDHash = dataHashToo ? sha256('{' + (head === '' ? '' : head + ',') + '"hash":"' + hash + '"' + (tail === '' ? '' : ',' + tail) + '}') : undefined;
  return copyWith(item, 'hash', hash);
}

/** The dHash the last `hashItem` computed (a second result without an object to carry both). */
let lastDHash: string | undefined;
export const lastDataHash = (): string | undefined => lastDHash;

/**
 * `hashItem` with the dHash remembered for the writer (identity.ts dataHash), for items not made into
 * events by normalisation (relations' ensured items); the hash beside the item.
 */
export function withHash(item: MItem): { hash: string; item: MItem } {
  const out = hashItem(item, true);
  rememberDataHash(out, lastDHash!);
  return { hash: out.hash as string, item: out };
}
