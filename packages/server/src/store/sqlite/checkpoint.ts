import type { MItem } from '@myko/protocol';
import type { Db } from './open.js';
import type { Checkpoint, CheckpointDelta, StoreClaims } from '../event-store.js';
import { sha256 } from '../../core/identity.js';

/**
 * Snapshot digest: a 256-bit XOR of one SHA-256 per snapshot row (`myko_state`
 * and `myko_leaves`), over the rows' text as stored. XOR makes it independent
 * of row order, so it is deterministic, and incremental: a checkpoint XORs out
 * the old text of the rows it replaces and XORs in the new, so its cost stays
 * proportional to what changed. Rows are keyed, so no row can appear twice and
 * cancel itself out. It detects a changed, added or removed row (a damaged
 * disk, a hand edit); it is not a signature, since whoever can edit the rows
 * can also rewrite the digest.
 */
const DIGEST_BYTES = 32;
const stateRowHash = (itemType: string, id: string, item: string, pids: string | null) =>
  Buffer.from(sha256(`S${itemType.length}:${itemType}${id.length}:${id}${pids === null ? -1 : pids.length}:${pids ?? ''}${item}`), 'hex');
const leafRowHash = (itemType: string, id: string, pids: string) =>
  Buffer.from(sha256(`L${itemType.length}:${itemType}${id.length}:${id}${pids}`), 'hex');
const xorInto = (acc: Buffer, h: Buffer) => {
  for (let i = 0; i < DIGEST_BYTES; i++) acc[i]! ^= h[i]!;
};

type StateRow = { item_type: string; item_id: string; item: string; pids: string | null };
type LeafRow = { item_type: string; item_id: string; pids: string };

/** The digest of the snapshot tables as they are now: one pass over every row's text (no JSON parsing). */
export function makeSnapshotDigest(db: Db): () => string {
  const state = db.prepare(`SELECT item_type, item_id, item, pids FROM myko_state`);
  const leaves = db.prepare(`SELECT item_type, item_id, pids FROM myko_leaves`);
  return () => {
    const acc = Buffer.alloc(DIGEST_BYTES);
    for (const r of state.iterate() as Iterable<StateRow>) xorInto(acc, stateRowHash(r.item_type, r.item_id, r.item, r.pids));
    for (const r of leaves.iterate() as Iterable<LeafRow>) xorInto(acc, leafRowHash(r.item_type, r.item_id, r.pids));
    return acc.toString('hex');
  };
}

/**
 * The checkpoint's own claims (position, event id) and whether its rows still
 * match the digest saved with them. A checkpoint saved before digests existed
 * (migration) has none and is checked by its event id only, until the next
 * checkpoint stores one.
 */
export function makeCheckpointClaims(db: Db): () => NonNullable<StoreClaims['checkpoint']> | undefined {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`);
  const digestNow = makeSnapshotDigest(db);
  return () => {
    const get = (key: string) => (meta.get(key) as { value: string } | undefined)?.value;
    const position = Number(get('checkpoint_position') ?? 0);
    const saved = get('checkpoint_digest');
    if (position === 0 && saved === undefined) return undefined;
    const eventId = get('checkpoint_event_id') || null;
    if (saved === undefined) return { position, eventId };
    const now = digestNow();
    return now === saved ? { position, eventId } : { position, eventId, problem: digestProblem(position, saved, now) };
  };
}

/**
 * The saved checkpoint, its rows checked against their digest in the same
 * pass that parses them (one read of the table, not two; the items are held
 * in arrays, which costs a reference per item next to the state they fill).
 */
export function makeLoadCheckpoint(db: Db): () => Checkpoint {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`);
  const stateRows = db.prepare(`SELECT item_type, item_id, item, pids FROM myko_state`);
  // Every myko_leaves row counts in the digest; one whose item is in myko_state too is stale (the item
  // was set again after its DEL) and its leaves are the state row's.
  const leafRows = db.prepare(
    `SELECT l.item_type, l.item_id, l.pids, s.item_id IS NOT NULL AS shadowed
     FROM myko_leaves l LEFT JOIN myko_state s ON s.item_type = l.item_type AND s.item_id = l.item_id`,
  );
  return () => {
    const get = (key: string) => (meta.get(key) as { value: string } | undefined)?.value;
    const position = Number(get('checkpoint_position') ?? 0);
    const saved = get('checkpoint_digest');
    const acc = Buffer.alloc(DIGEST_BYTES);
    const items: { itemType: string; item: MItem }[] = [];
    const leaves: { itemType: string; id: string; pids: string[] }[] = [];
    for (const r of stateRows.iterate() as Iterable<StateRow>) {
      xorInto(acc, stateRowHash(r.item_type, r.item_id, r.item, r.pids));
      items.push({ itemType: r.item_type, item: JSON.parse(r.item) as MItem });
      if (r.pids !== null) leaves.push({ itemType: r.item_type, id: r.item_id, pids: JSON.parse(r.pids) as string[] });
    }
    for (const r of leafRows.iterate() as Iterable<LeafRow & { shadowed: number }>) {
      xorInto(acc, leafRowHash(r.item_type, r.item_id, r.pids));
      if (!r.shadowed) leaves.push({ itemType: r.item_type, id: r.item_id, pids: JSON.parse(r.pids) as string[] });
    }
    const now = acc.toString('hex');
    // No digest saved: a checkpoint from before digests (checked by its event id only), or none at all.
    const problem = saved === undefined || saved === now ? undefined : digestProblem(position, saved, now);
    return { position, eventId: get('checkpoint_event_id') ?? null, chain: get('checkpoint_chain') ?? '', items, leaves, ...(problem ? { problem } : {}) };
  };
}

const digestProblem = (position: number, saved: string, now: string) =>
  `snapshot rows (myko_state, myko_leaves) do not match the digest saved with the checkpoint at position ${position} (saved ${saved}, rows give ${now}): a snapshot row was changed, added or removed`;

/** Incremental: the dirty items, the new position and the new digest in one transaction, so a checkpoint is never half-written. */
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
  const oldState = db.prepare(`SELECT item, pids FROM myko_state WHERE item_type = ? AND item_id = ?`);
  const oldLeaf = db.prepare(`SELECT pids FROM myko_leaves WHERE item_type = ? AND item_id = ?`);
  const getMeta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`);
  const setMeta = db.prepare(
    `INSERT INTO myko_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  const clearState = db.prepare(`DELETE FROM myko_state`);
  const clearLeaves = db.prepare(`DELETE FROM myko_leaves`);
  const digestNow = makeSnapshotDigest(db);
  return db.transaction((d: CheckpointDelta) => {
    // The first checkpoint with a digest (a new store, or one saved before digests) starts from a full pass.
    if (d.replace) {
      clearState.run();
      clearLeaves.run();
    }
    const saved = d.replace ? undefined : (getMeta.get('checkpoint_digest') as { value: string } | undefined)?.value;
    const acc = Buffer.from(saved ?? digestNow(), 'hex');
    for (const u of d.upserts) {
      const before = oldState.get(u.itemType, u.item.id) as { item: string; pids: string | null } | undefined;
      if (before) xorInto(acc, stateRowHash(u.itemType, u.item.id, before.item, before.pids));
      const item = JSON.stringify(u.item);
      const pids = JSON.stringify(u.pids);
      upsert.run(u.itemType, u.item.id, item, pids);
      xorInto(acc, stateRowHash(u.itemType, u.item.id, item, pids));
    }
    for (const x of d.deletes) {
      const before = oldState.get(x.itemType, x.id) as { item: string; pids: string | null } | undefined;
      if (before) {
        xorInto(acc, stateRowHash(x.itemType, x.id, before.item, before.pids));
        del.run(x.itemType, x.id);
      }
      const beforeLeaf = oldLeaf.get(x.itemType, x.id) as { pids: string } | undefined;
      if (beforeLeaf) xorInto(acc, leafRowHash(x.itemType, x.id, beforeLeaf.pids));
      const pids = JSON.stringify(x.pids);
      leaf.run(x.itemType, x.id, pids);
      xorInto(acc, leafRowHash(x.itemType, x.id, pids));
    }
    setMeta.run('checkpoint_position', String(d.position));
    setMeta.run('checkpoint_event_id', d.eventId ?? '');
    setMeta.run('checkpoint_chain', d.chain);
    setMeta.run('checkpoint_digest', acc.toString('hex'));
  });
}

/** The head recorded by append (append.ts), if any: a store written before it was recorded has none. */
export function makeReadHead(db: Db): () => StoreClaims['head'] {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = 'log_head'`);
  return () => {
    const v = (meta.get() as { value: string } | undefined)?.value;
    if (!v) return undefined;
    const [position, eventId] = v.split(' ');
    return { position: Number(position), eventId: eventId ?? '' };
  };
}
