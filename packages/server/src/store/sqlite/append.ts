import type { Db } from './open.js';
import type { NewEvent, StoredEvent } from '../event-store.js';
import { joinStrings, joinTexts, splitTexts } from './joined-texts.js';

/**
 * The name of the log head's row in `sqlite_sequence`. SQLite documents that table as writable with
 * ordinary statements; AUTOINCREMENT reads only the row named after its own table (`myko_events`), and
 * no table has this name. Its `seq` holds "position eventId" (the column has no type).
 */
export const LOG_HEAD_ROW = 'myko_log_head';

/**
 * A batch of log rows, encoded where the events live (the writer's thread) so only strings cross to
 * the store thread (thread.ts), never the event objects:
 * - `values`: the column values, each run of equal values in a column stored once (a batch's rows
 *   mostly share their type, change, createdAt and source); joined into one text (joined-texts.ts)
 *   when every value is a string without a NUL, else as they are;
 * - `refs`: six per row, in column order (item_type, item_id, change_type, created_at, tx, source_id),
 *   each the index of its value in `values`;
 * - `events`: each row's event as JSON, joined into one text (joined-texts.ts: why).
 *
 * Why not six strings per row: the structured clone to the thread writes and reads every string of a
 * message one by one. Ingest's batches are thousands of rows; cloning their columns cost the event
 * loop 0.7-0.9 µs per event and the store thread about 1 µs, against 0.1 µs for these (bench/RESULTS.md,
 * ninth part).
 */
export interface EncodedRows {
  values: string | string[];
  valueCount: number;
  refs: Uint32Array;
  events: string;
}

export function encodeRows(events: readonly NewEvent[]): EncodedRows {
  const n = events.length;
  const refs = new Uint32Array(n * 6);
  const values: string[] = [];
  const last: unknown[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  const lastRef = new Uint32Array(6);
  const ref = (column: number, v: string): number => {
    if (v !== last[column]) {
      last[column] = v;
      lastRef[column] = values.push(v) - 1;
    }
    return lastRef[column]!;
  };
  const texts = new Array<string>(n);
  for (let i = 0, c = 0; i < n; i++) {
    const e = events[i]!;
    refs[c++] = ref(0, e.itemType);
    refs[c++] = ref(1, e.item.id);
    refs[c++] = ref(2, e.changeType);
    refs[c++] = ref(3, e.createdAt);
    refs[c++] = ref(4, e.tx);
    refs[c++] = ref(5, e.sourceId);
    texts[i] = JSON.stringify(e);
  }
  // A value that is not a string (a bug upstream) crosses as it is, for SQLite to refuse as before: joined, it would become text.
  return { values: joinStrings(values) ?? values, valueCount: values.length, refs, events: joinTexts(texts) };
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
    const r = rows.refs;
    const n = r.length / 6;
    const texts = splitTexts(rows.events, n, `append of ${n} rows`);
    const v = typeof rows.values === 'string' ? splitTexts(rows.values, rows.valueCount, `append of ${n} rows' columns`) : rows.values;
    const positions = new Array<number>(n);
    if (n === 0) return positions;
    for (let i = 0, k = 0; i < n; i++, k += 6)
      positions[i] = Number(insert.run(v[r[k]!], v[r[k + 1]!], v[r[k + 2]!], v[r[k + 3]!], v[r[k + 4]!], v[r[k + 5]!], texts[i]).lastInsertRowid);
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
