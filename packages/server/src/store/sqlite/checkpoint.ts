import type { MItem } from '@myko/protocol';
import type { Db } from './open.js';
import type { Checkpoint } from '../event-store.js';

export function makeLoadCheckpoint(db: Db): () => Checkpoint {
  const pos = db.prepare(`SELECT value FROM myko_meta WHERE key = 'checkpoint_position'`);
  const rows = db.prepare(`SELECT item_type, item FROM myko_state`);
  return () => {
    const row = pos.get() as { value: string } | undefined;
    const position = row ? Number(row.value) : 0;
    const items = (function* () {
      for (const r of rows.iterate() as Iterable<{ item_type: string; item: string }>)
        yield { itemType: r.item_type, item: JSON.parse(r.item) as MItem };
    })();
    return { position, items };
  };
}

/** Incremental: the dirty items and the new position in one transaction, so a checkpoint is never half-written. */
export type SaveCheckpoint = (
  position: number,
  upserts: Iterable<{ itemType: string; item: MItem }>,
  deletes: Iterable<{ itemType: string; id: string }>,
) => void;

export function makeSaveCheckpoint(db: Db): SaveCheckpoint {
  const upsert = db.prepare(
    `INSERT INTO myko_state (item_type, item_id, item) VALUES (?, ?, ?)
     ON CONFLICT (item_type, item_id) DO UPDATE SET item = excluded.item`,
  );
  const del = db.prepare(`DELETE FROM myko_state WHERE item_type = ? AND item_id = ?`);
  const setPos = db.prepare(
    `INSERT INTO myko_meta (key, value) VALUES ('checkpoint_position', ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  return db.transaction(
    (
      position: number,
      upserts: Iterable<{ itemType: string; item: MItem }>,
      deletes: Iterable<{ itemType: string; id: string }>,
    ) => {
      for (const u of upserts) upsert.run(u.itemType, u.item.id, JSON.stringify(u.item));
      for (const d of deletes) del.run(d.itemType, d.id);
      setPos.run(String(position));
    },
  );
}
