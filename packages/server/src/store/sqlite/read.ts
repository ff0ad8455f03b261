import type { Db } from './open.js';
import type { RawEventColumns, RawEventRow, StoredEvent } from '../event-store.js';

/** A log row as read: its position and the event's JSON. Parsed where the event is used (the store thread, thread.ts, sends rows). */
export type EventTextRow = { id: number; event: string };
/**
 * The parsed event is a fresh object of our own: it takes its position in place (the same members, in
 * the same order, as a copy with it) rather than being copied. On a boot's replay of a large log the
 * copy was a fifth of the time and as much garbage again as the parse.
 */
export const parseEvent = (text: string, position: number): StoredEvent => {
  const e = JSON.parse(text) as StoredEvent;
  e.position = position;
  return e;
};

export const toEvent = (row: EventTextRow): StoredEvent => parseEvent(row.event, row.id);

export function makeReadAfterRows(db: Db): (after: number, limit: number, opts?: { upTo?: number; itemType?: string }) => EventTextRow[] {
  const all = db.prepare(`SELECT id, event FROM myko_events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`);
  const ofType = db.prepare(`SELECT id, event FROM myko_events WHERE id > ? AND id <= ? AND item_type = ? ORDER BY id LIMIT ?`);
  return (after, limit, opts = {}) => {
    const upTo = opts.upTo ?? Number.MAX_SAFE_INTEGER;
    return (opts.itemType === undefined ? all.all(after, upTo, limit) : ofType.all(after, upTo, opts.itemType, limit)) as EventTextRow[];
  };
}

export function makeReadHistoryRows(db: Db): (itemType: string, id: string) => EventTextRow[] {
  const select = db.prepare(`SELECT id, event FROM myko_events WHERE item_type = ? AND item_id = ? ORDER BY id`);
  return (itemType, id) => select.all(itemType, id) as EventTextRow[];
}

/** From the index myko_events_tx. */
export function makeReadTxRows(db: Db): (tx: string) => EventTextRow[] {
  const select = db.prepare(`SELECT id, event FROM myko_events WHERE tx = ? ORDER BY id`);
  return (tx) => select.all(tx) as EventTextRow[];
}

/** Answered from the index myko_events_item alone: it holds the rowid (`id`) beside (item_type, item_id). */
export function makeCountHistory(db: Db): (itemType: string, id: string, upTo?: number) => number {
  const select = db.prepare(`SELECT COUNT(*) AS n FROM myko_events WHERE item_type = ? AND item_id = ? AND id <= ?`);
  return (itemType, id, upTo = Number.MAX_SAFE_INTEGER) => (select.get(itemType, id, upTo) as { n: number }).n;
}

export function makeLastPosition(db: Db): () => number {
  const select = db.prepare(`SELECT COALESCE(MAX(id), 0) AS p FROM myko_events`);
  return () => (select.get() as { p: number }).p;
}

export function makeReadRawAfter(db: Db): (after: number, limit: number) => RawEventRow[] {
  const select = db.prepare(
    `SELECT id AS position, item_type AS itemType, item_id AS itemId, change_type AS changeType, event
     FROM myko_events WHERE id > ? ORDER BY id LIMIT ?`,
  );
  return (after, limit) => select.all(after, limit) as RawEventRow[];
}

/** makeReadRawAfter as columns, from a raw statement (an array per row, not an object with five named members). */
export function makeReadRawColumnsAfter(db: Db): (after: number, limit: number) => RawEventColumns {
  const select = db.prepare(`SELECT id, item_type, item_id, change_type, event FROM myko_events WHERE id > ? ORDER BY id LIMIT ?`).raw(true);
  return (after, limit) => toColumns(select.all(after, limit) as RawRow[]);
}

/** The rows with `after` < position ≤ `upTo`, as columns: a verify worker's share of the log (log/verify-worker.ts). */
export function makeReadRawColumnsBetween(db: Db): (after: number, upTo: number) => RawEventColumns {
  const select = db.prepare(`SELECT id, item_type, item_id, change_type, event FROM myko_events WHERE id > ? AND id <= ? ORDER BY id`).raw(true);
  return (after, upTo) => toColumns(select.all(after, upTo) as RawRow[]);
}

type RawRow = [number, string, string, string, string];

function toColumns(rows: RawRow[]): RawEventColumns {
  const n = rows.length;
  const c: RawEventColumns = { positions: new Array(n), itemTypes: new Array(n), itemIds: new Array(n), changeTypes: new Array(n), events: new Array(n) };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.positions[i] = r[0];
    c.itemTypes[i] = r[1];
    c.itemIds[i] = r[2];
    c.changeTypes[i] = r[3];
    c.events[i] = r[4];
  }
  return c;
}
