import type { MItem } from '@myko/protocol';
import type { Db } from './open.js';

/**
 * Reading the log rows a snapshot's RowRefs name (checkpoint.ts). A boot from a snapshot of references
 * reads one row per item. One query per row cost about 3× a boot from whole entries (100,000 items: 1.2-1.5 s
 * against 0.37-0.52 s); in position order, a run of nearby positions is one range query instead, and
 * the references of a load that created its items are mostly such runs. Each row is read once.
 */

/** Positions this close are read by one range scan (the rows between them are read and skipped). */
const RUN_GAP = 16;

/** Calls `fn` with the event text of each of `sorted`'s rows (increasing, no repeats) that the log holds, in position order. */
export type RowReader = (sorted: readonly number[], fn: (position: number, event: string) => void) => void;

export function makeRowReader(db: Db): RowReader {
  // The event's own JSON names its item and change: the key columns would only add three strings to convert per row.
  const select = db.prepare(`SELECT id, event FROM myko_events WHERE id BETWEEN ? AND ? ORDER BY id`).raw(true);
  return (sorted, fn) =>
    inRuns(sorted, (from, to, take) => {
      for (const row of select.iterate(from, to) as Iterable<[number, string]>) if (take(row[0])) fn(row[0], row[1]);
    });
}

/** Splits `sorted` into runs of nearby positions; `scan` reads each run's range and keeps the rows `take` accepts. */
function inRuns(sorted: readonly number[], scan: (from: number, to: number, take: (position: number) => boolean) => void): void {
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= RUN_GAP) j++;
    let k = i;
    scan(sorted[i]!, sorted[j]!, (position) => {
      while (k <= j && sorted[k]! < position) k++;
      return k <= j && sorted[k] === position;
    });
    i = j + 1;
  }
}

/** What a RowRef stands for, from its row's event: the item's key, its state (undefined: deleted) and its one leaf. */
export interface RowEntry {
  itemType: string;
  id: string;
  item: MItem | undefined;
  _id: string;
}

/** The entry the event at `position` gives, or what is wrong with it as one. */
export function rowEntry(position: number, text: string): RowEntry | string {
  const at = `the log row at position ${position}, which the snapshot names,`;
  let e: { itemType?: unknown; changeType?: unknown; item?: { id?: unknown }; identity?: { _id?: unknown } };
  try {
    e = JSON.parse(text) as typeof e;
  } catch {
    return `${at} does not parse`;
  }
  const item = e?.item;
  const { itemType, changeType } = e ?? {};
  const _id = e?.identity?._id;
  if (typeof itemType !== 'string' || typeof item !== 'object' || item === null || Array.isArray(item) || typeof item.id !== 'string')
    return `${at} is not an event of an item`;
  if (typeof _id !== 'string') return `${at} has no event id`;
  if (changeType !== 'SET' && changeType !== 'DEL') return `${at} is neither a SET nor a DEL`;
  return { itemType, id: item.id, item: changeType === 'SET' ? (item as MItem) : undefined, _id };
}
