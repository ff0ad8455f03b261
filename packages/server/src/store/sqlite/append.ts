import type { Db } from './open.js';
import type { NewEvent, StoredEvent } from '../event-store.js';

/**
 * One log row as its columns: item_type, item_id, change_type, created_at, tx, source_id, event (the
 * event as JSON). Built where the event lives (the writer's thread) so only strings cross to the store
 * thread (thread.ts), never the event objects.
 */
export type EventRow = [itemType: string, itemId: string, changeType: string, createdAt: string, tx: string, sourceId: string, event: string];

export const eventRow = (e: NewEvent): EventRow => [e.itemType, e.item.id, e.changeType, e.createdAt, e.tx, e.sourceId, JSON.stringify(e)];

/**
 * Group append of encoded rows: one transaction for the whole batch, so a batch costs one fsync however
 * many events it holds. All or nothing. Returns each row's position, in order. `headEventId` is the
 * `_id` of the last row's event (recorded as the log's head).
 */
export function makeAppendRows(db: Db): (rows: readonly EventRow[], headEventId: string) => number[] {
  const insert = db.prepare(
    `INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // The log's head (last position and event id), in the same transaction: `myko verify` compares the
  // log's end with it, so deleting the last events is found (nothing after them would show a gap).
  // One small write per batch, not per event.
  const head = db.prepare(`INSERT INTO myko_meta (key, value) VALUES ('log_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  return db.transaction((rows: readonly EventRow[], headEventId: string): number[] => {
    const positions = new Array<number>(rows.length);
    for (let i = 0; i < rows.length; i++) positions[i] = Number(insert.run(...rows[i]!).lastInsertRowid);
    if (rows.length > 0) head.run(`${positions[rows.length - 1]} ${headEventId}`);
    return positions;
  });
}

/** What an append of `events` hands to makeAppendRows (on whichever thread holds the connection): the rows and the head's event id. */
export const appendArgs = (events: readonly NewEvent[]): [rows: EventRow[], headEventId: string] => [events.map(eventRow), events.at(-1)?.identity?._id ?? ''];

/** Each event takes its position in place (the writer owns them). */

export function assignPositions(events: readonly NewEvent[], positions: readonly number[]): StoredEvent[] {
  for (let i = 0; i < events.length; i++) (events[i] as StoredEvent).position = positions[i]!;
  return events as StoredEvent[];
}
