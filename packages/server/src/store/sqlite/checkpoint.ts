import type { MItem } from '@myko/protocol';
import type { Db } from './open.js';
import type { Checkpoint, CheckpointDelta } from '../event-store.js';

export function makeLoadCheckpoint(db: Db): () => Checkpoint {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`);
  const rows = db.prepare(`SELECT item_type, item FROM myko_state`);
  const leafRows = db.prepare(
    `SELECT item_type, item_id, pids FROM myko_leaves WHERE NOT EXISTS
       (SELECT 1 FROM myko_state s WHERE s.item_type = myko_leaves.item_type AND s.item_id = myko_leaves.item_id)
     UNION ALL SELECT item_type, item_id, pids FROM myko_state WHERE pids IS NOT NULL`,
  );
  return () => {
    const get = (key: string) => (meta.get(key) as { value: string } | undefined)?.value;
    const position = Number(get('checkpoint_position') ?? 0);
    const items = (function* () {
      for (const r of rows.iterate() as Iterable<{ item_type: string; item: string }>)
        yield { itemType: r.item_type, item: JSON.parse(r.item) as MItem };
    })();
    const leaves = (function* () {
      for (const r of leafRows.iterate() as Iterable<{ item_type: string; item_id: string; pids: string }>)
        yield { itemType: r.item_type, id: r.item_id, pids: JSON.parse(r.pids) as string[] };
    })();
    return { position, eventId: get('checkpoint_event_id') ?? null, chain: get('checkpoint_chain') ?? '', items, leaves };
  };
}

/** Incremental: the dirty items and the new position in one transaction, so a checkpoint is never half-written. */
export type SaveCheckpoint = (delta: CheckpointDelta) => void;

export function makeSaveCheckpoint(db: Db): SaveCheckpoint {
  const upsert = db.prepare(
    `INSERT INTO myko_state (item_type, item_id, item, pids) VALUES (?, ?, ?, ?)
     ON CONFLICT (item_type, item_id) DO UPDATE SET item = excluded.item, pids = excluded.pids`,
  );
  const del = db.prepare(`DELETE FROM myko_state WHERE item_type = ? AND item_id = ?`);
  const leaf = db.prepare(
    `INSERT INTO myko_leaves (item_type, item_id, pids) VALUES (?, ?, ?)
     ON CONFLICT (item_type, item_id) DO UPDATE SET pids = excluded.pids`,
  );
  const setMeta = db.prepare(
    `INSERT INTO myko_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  return db.transaction((d: CheckpointDelta) => {
    for (const u of d.upserts) upsert.run(u.itemType, u.item.id, JSON.stringify(u.item), JSON.stringify(u.pids));
    for (const x of d.deletes) {
      del.run(x.itemType, x.id);
      leaf.run(x.itemType, x.id, JSON.stringify(x.pids));
    }
    setMeta.run('checkpoint_position', String(d.position));
    setMeta.run('checkpoint_event_id', d.eventId ?? '');
    setMeta.run('checkpoint_chain', d.chain);
  });
}
