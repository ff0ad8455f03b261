import type { Db } from './open.js';
import type { NewEvent, StoredEvent } from '../event-store.js';
import { joinTexts, splitTexts } from './joined-texts.js';

/**
 * The name of the log head's row in `sqlite_sequence`. SQLite documents that table as writable with
 * ordinary statements; AUTOINCREMENT reads only the row named after its own table (`myko_events`), and
 * no table has this name. Its `seq` holds "position eventId" (the column has no type).
 */
export const LOG_HEAD_ROW = 'myko_log_head';

/**
 * A batch of log rows, encoded where the events live (the writer's thread) so only strings cross to
 * the store thread (thread.ts), never the event objects:
 * - `columns`: six strings per row, in order: item_type, item_id, change_type, created_at, tx, source_id;
 * - `events`: each row's event as JSON, joined into one text (joined-texts.ts: why).
 */
export interface EncodedRows {
  columns: string[];
  events: string;
}

export function encodeRows(events: readonly NewEvent[]): EncodedRows {
  const n = events.length;
  const columns = new Array<string>(n * 6);
  const texts = new Array<string>(n);
  for (let i = 0, c = 0; i < n; i++) {
    const e = events[i]!;
    columns[c++] = e.itemType;
    columns[c++] = e.item.id;
    columns[c++] = e.changeType;
    columns[c++] = e.createdAt;
    columns[c++] = e.tx;
    columns[c++] = e.sourceId;
    texts[i] = JSON.stringify(e);
  }
  return { columns, events: joinTexts(texts) };
}

/**
 * Group append of encoded rows: one transaction for the whole batch, so a batch costs one fsync however
 * many events it holds. All or nothing. Returns each row's position, in order. `headEventId` is the
 * `_id` of the last row's event (recorded as the log's head).
 */
export function makeAppendRows(db: Db): (rows: EncodedRows, headEventId: string) => number[] {
  const insert = db.prepare(
    `INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // The log's head (last position and event id), in the same transaction: `myko verify` compares the
  // log's end with it, so deleting the last events is found (nothing after them would show a gap).
  // One small write per batch, not per event. It is a row of `sqlite_sequence` (LOG_HEAD_ROW), the
  // table AUTOINCREMENT already rewrites in every append: kept in `myko_meta`, it put a fifth page into
  // every commit's WAL frames (the event's table page, its two index pages, sqlite_sequence's, and
  // myko_meta's): a single-row commit of this schema took 0.20 ms at p50 with it, 0.18 ms without
  // (bench/RESULTS.md, eighth part). checkpoint.ts reads it.
  const setHead = db.prepare(`UPDATE sqlite_sequence SET seq = ? WHERE name = '${LOG_HEAD_ROW}'`);
  const addHead = db.prepare(`INSERT INTO sqlite_sequence (name, seq) VALUES ('${LOG_HEAD_ROW}', ?)`);
  return db.transaction((rows: EncodedRows, headEventId: string): number[] => {
    const c = rows.columns;
    const n = c.length / 6;
    const texts = splitTexts(rows.events, n, `append of ${n} rows`);
    const positions = new Array<number>(n);
    if (n === 0) return positions;
    for (let i = 0, k = 0; i < n; i++, k += 6)
      positions[i] = Number(insert.run(c[k], c[k + 1], c[k + 2], c[k + 3], c[k + 4], c[k + 5], texts[i]).lastInsertRowid);
    const head = `${positions[n - 1]} ${headEventId}`;
    if (setHead.run(head).changes === 0) addHead.run(head);
    return positions;
  });
}

/** What an append of `events` hands to makeAppendRows (on whichever thread holds the connection): the rows and the head's event id. */
export const appendArgs = (events: readonly NewEvent[]): [rows: EncodedRows, headEventId: string] => [encodeRows(events), events.at(-1)?.identity?._id ?? ''];

/** Each event takes its position in place (the writer owns them). */

export function assignPositions(events: readonly NewEvent[], positions: readonly number[]): StoredEvent[] {
  for (let i = 0; i < events.length; i++) (events[i] as StoredEvent).position = positions[i]!;
  return events as StoredEvent[];
}
