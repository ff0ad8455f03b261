import type { Db } from './open.js';
import type { StoredEvent } from '../event-store.js';

export function makeReadAfter(db: Db): (after: number, limit: number) => StoredEvent[] {
  const select = db.prepare(`SELECT id, event FROM myko_events WHERE id > ? ORDER BY id LIMIT ?`);
  return (after, limit) =>
    (select.all(after, limit) as { id: number; event: string }[]).map((row) => ({
      ...(JSON.parse(row.event) as Omit<StoredEvent, 'position'>),
      position: row.id,
    }));
}

export function makeLastPosition(db: Db): () => number {
  const select = db.prepare(`SELECT COALESCE(MAX(id), 0) AS p FROM myko_events`);
  return () => (select.get() as { p: number }).p;
}
