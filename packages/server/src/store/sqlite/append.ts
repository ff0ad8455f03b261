import type { Db } from './open.js';
import type { NewEvent, StoredEvent } from '../event-store.js';

/**
 * Group append: one transaction for the whole batch, so a batch costs one
 * fsync however many events it holds. All or nothing.
 */
export function makeAppend(db: Db): (events: readonly NewEvent[]) => StoredEvent[] {
  const insert = db.prepare(
    `INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // The log's head (last position and event id), in the same transaction: `myko verify` compares the
  // log's end with it, so deleting the last events is found (nothing after them would show a gap).
  // One small write per batch, not per event.
  const head = db.prepare(`INSERT INTO myko_meta (key, value) VALUES ('log_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  const run = db.transaction((events: readonly NewEvent[]): StoredEvent[] => {
    // The writer owns these objects: give each its position in place rather than copying it.
    for (const e of events) {
      const info = insert.run(e.itemType, e.item.id, e.changeType, e.createdAt, e.tx, e.sourceId, JSON.stringify(e));
      (e as StoredEvent).position = Number(info.lastInsertRowid);
    }
    const last = events[events.length - 1] as StoredEvent | undefined;
    if (last) head.run(`${last.position} ${last.identity?._id ?? ''}`);
    return events as StoredEvent[];
  });
  return run;
}
