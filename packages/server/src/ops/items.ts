import type { MItem } from '@myko/protocol';
import type { StateReader } from '../core/state.js';
import { equalityFilter } from '../builtins.js';

/**
 * `GET /api/items/ITEMTYPE?sort=FIELD&dir=asc|desc&offset=N&limit=N&where={...}`:
 * one page of an item type sorted by any top-level field over the whole set
 * (the live query window only orders by id). The data browser uses it for
 * every order but id-ascending, and fetches again when the type changes.
 *
 * Order: numbers < strings (UTF-16 code units, as ids) < booleans (false <
 * true) < objects and arrays (by their JSON text) < missing or null; ties by
 * id. `desc` is the exact reverse, so a missing field comes first there (as
 * PostgreSQL's NULLS LAST/FIRST default).
 */

export const defaultPageLimit = 50;
export const maxPageLimit = 1000;
/**
 * Largest set (after `where`) sorted per request: a sort runs on the event
 * loop, and at this size it stays in the tens of milliseconds. Larger sets
 * are refused (400), and the dashboard falls back to the id order.
 */
export const maxSortItems = 250_000;

export interface ItemsPage {
  itemType: string;
  sort: string;
  dir: 'asc' | 'desc';
  offset: number;
  limit: number;
  /** Size of the whole (filtered) set. */
  total: number;
  items: MItem[];
}

export class ItemsRequestError extends Error {}

/** GET /api/items/ITEMTYPE: the item type, or null when the path does not name one. */
export function itemsTarget(url: URL): string | null | 'bad' {
  const m = /^\/api\/items\/([^/]+)$/.exec(url.pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return 'bad';
  }
}

function intParam(url: URL, name: string, dflt: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ItemsRequestError(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return n;
}

/** Rank of a value's kind in the order above. */
function kindRank(v: unknown): number {
  switch (typeof v) {
    case 'number':
      return 0;
    case 'string':
      return 1;
    case 'boolean':
      return 2;
    case 'undefined':
      return 4;
    default:
      return v === null ? 4 : 3;
  }
}

function compareValues(x: unknown, y: unknown): number {
  const rx = kindRank(x);
  const ry = kindRank(y);
  if (rx !== ry) return rx - ry;
  switch (rx) {
    case 0:
      return (x as number) - (y as number);
    case 1:
      return x! < y! ? -1 : x! > y! ? 1 : 0;
    case 2:
      return Number(x) - Number(y);
    case 3: {
      const a = JSON.stringify(x);
      const b = JSON.stringify(y);
      return a < b ? -1 : a > b ? 1 : 0;
    }
    default:
      return 0;
  }
}

export function itemComparator(field: string, dir: 1 | -1): (a: MItem, b: MItem) => number {
  return (a, b) => {
    const c = field === 'id' ? 0 : compareValues(a[field], b[field]);
    return (c !== 0 ? c : a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * dir;
  };
}

/** The `k` smallest items under `cmp`, in order: a bounded max-heap (n log k) when k is small, else one sort. */
function smallest(items: MItem[], k: number, cmp: (a: MItem, b: MItem) => number): MItem[] {
  if (k <= 0) return [];
  if (k * 4 >= items.length) return items.sort(cmp).slice(0, k);
  const heap: MItem[] = [];
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (cmp(heap[i]!, heap[p]!) <= 0) return;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && cmp(heap[l]!, heap[m]!) > 0) m = l;
      if (r < heap.length && cmp(heap[r]!, heap[m]!) > 0) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (const it of items) {
    if (heap.length < k) {
      heap.push(it);
      up(heap.length - 1);
    } else if (cmp(it, heap[0]!) < 0) {
      heap[0] = it;
      down(0);
    }
  }
  return heap.sort(cmp);
}

/** Answer a page request from the current state; throws ItemsRequestError on bad parameters. */
export function itemsPage(state: StateReader, itemType: string, url: URL): ItemsPage {
  const sort = url.searchParams.get('sort') || 'id';
  const dirText = url.searchParams.get('dir') || 'asc';
  if (dirText !== 'asc' && dirText !== 'desc') throw new ItemsRequestError(`dir must be asc or desc, got ${dirText}`);
  const dir = dirText === 'asc' ? 1 : -1;
  const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(url, 'limit', defaultPageLimit, 1, maxPageLimit);
  let where: Record<string, unknown> | undefined;
  const whereText = url.searchParams.get('where');
  if (whereText) {
    try {
      where = JSON.parse(whereText) as Record<string, unknown>;
    } catch {
      throw new ItemsRequestError('where must be a JSON object of field: value');
    }
    if (typeof where !== 'object' || where === null || Array.isArray(where)) throw new ItemsRequestError('where must be a JSON object of field: value');
  }
  let filter;
  try {
    filter = where ? equalityFilter(where) : undefined;
  } catch (err) {
    throw new ItemsRequestError(`where.${(err as Error).message}`);
  }
  const set: MItem[] = [];
  if (!filter && state.count(itemType) > maxSortItems) throw tooMany(itemType, state.count(itemType));
  for (const it of state.all(itemType)) if (!filter || filter.match(it)) set.push(it);
  if (set.length > maxSortItems) throw tooMany(itemType, set.length);
  const n = set.length;
  const page = { itemType, sort, dir: dirText, offset, limit, total: n } as const;
  if (offset >= n) return { ...page, items: [] };
  const end = Math.min(offset + limit, n);
  const cmp = itemComparator(sort, dir);
  // A page near the end: select from the other end (n - offset items) in the reverse order.
  if (n - offset < end) return { ...page, items: smallest(set, n - offset, itemComparator(sort, dir === 1 ? -1 : 1)).reverse().slice(0, end - offset) };
  return { ...page, items: smallest(set, end, cmp).slice(offset) };
}

const tooMany = (itemType: string, n: number) =>
  new ItemsRequestError(`${itemType} has ${n.toLocaleString('en')} items: sorting by a field is served up to ${maxSortItems.toLocaleString('en')} (narrow it with where)`);
