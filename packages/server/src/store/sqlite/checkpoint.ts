import type { MItem } from '@myko/protocol';
import type { Db } from './open.js';
import type { Checkpoint, CheckpointDelta, DerivedFields, StoreClaims } from '../event-store.js';
import { sha256 } from '../../core/identity.js';
import { RowDigests } from './row-digests.js';
import { joinTexts, splitTexts } from './joined-texts.js';

/**
 * Snapshot digest: a 256-bit XOR of one SHA-256 per snapshot row (`myko_state`
 * and `myko_leaves`), over the rows' text as stored. XOR makes it independent
 * of row order, so it is deterministic, and incremental: a checkpoint XORs out
 * the old text of the rows it replaces and XORs in the new, so its cost stays
 * proportional to what changed. Rows are keyed, so no row can appear twice and
 * cancel itself out. It detects a changed, added or removed row (a damaged
 * disk, a hand edit); it is not a signature, since whoever can edit the rows
 * can also rewrite the digest. The old rows' hashes come from memory
 * (row-digests.ts), not from reading the rows back.
 */
const DIGEST_BYTES = 32;
/** Hex, as RowDigests takes them. */
const stateRowHash = (itemType: string, id: string, item: string, pids: string | null) =>
  sha256(`S${itemType.length}:${itemType}${id.length}:${id}${pids === null ? -1 : pids.length}:${pids ?? ''}${item}`);
const leafRowHash = (itemType: string, id: string, pids: string) => sha256(`L${itemType.length}:${itemType}${id.length}:${id}${pids}`);
const xorInto = (acc: Buffer, hexHash: string) => {
  const h = Buffer.from(hexHash, 'hex');
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
export function makeCheckpointClaims(db: Db): (digest?: boolean) => NonNullable<StoreClaims['checkpoint']> | undefined {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`);
  const digestNow = makeSnapshotDigest(db);
  return (digest = true) => {
    const get = (key: string) => (meta.get(key) as { value: string } | undefined)?.value;
    const position = Number(get('checkpoint_position') ?? 0);
    const saved = get('checkpoint_digest');
    if (position === 0 && saved === undefined) return undefined;
    const eventId = get('checkpoint_event_id') || null;
    const derived = derivedOf(get('checkpoint_derived'));
    if (saved === undefined || !digest) return { position, eventId, ...derived };
    const now = digestNow();
    return now === saved ? { position, eventId, ...derived } : { position, eventId, ...derived, problem: digestProblem(position, saved, now) };
  };
}

/**
 * The saved checkpoint, its rows checked against their digest in the same
 * pass that parses them (one read of the table, not two; the items are held
 * in arrays, which costs a reference per item next to the state they fill).
 */
export function makeLoadCheckpoint(db: Db, digests: RowDigests): () => Checkpoint {
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
    // Every row's hash is kept (row-digests.ts): the next checkpoint XORs the rows it replaces out of it.
    digests.reset();
    digests.complete = false; // until every row is in: a row that fails to parse must not leave half of them trusted
    const items: { itemType: string; item: MItem }[] = [];
    const leaves: { itemType: string; id: string; pids: string[] }[] = [];
    for (const r of stateRows.iterate() as Iterable<StateRow>) {
      digests.set('S', r.item_type, r.item_id, stateRowHash(r.item_type, r.item_id, r.item, r.pids));
      items.push({ itemType: r.item_type, item: JSON.parse(r.item) as MItem });
      if (r.pids !== null) leaves.push({ itemType: r.item_type, id: r.item_id, pids: JSON.parse(r.pids) as string[] });
    }
    for (const r of leafRows.iterate() as Iterable<LeafRow & { shadowed: number }>) {
      digests.set('L', r.item_type, r.item_id, leafRowHash(r.item_type, r.item_id, r.pids));
      if (!r.shadowed) leaves.push({ itemType: r.item_type, id: r.item_id, pids: JSON.parse(r.pids) as string[] });
    }
    digests.complete = true;
    const now = digests.digest();
    // No digest saved: a checkpoint from before digests (checked by its event id only), or none at all.
    const problem = saved === undefined || saved === now ? undefined : digestProblem(position, saved, now);
    return {
      position,
      eventId: get('checkpoint_event_id') ?? null,
      chain: get('checkpoint_chain') ?? '',
      items,
      leaves,
      ...(problem ? { problem } : {}),
      ...derivedOf(get('checkpoint_derived')),
    };
  };
}

/** The `checkpoint_derived` meta value as a spread: `{ derived }` when one was recorded (and is not ''). */
const derivedOf = (v: string | undefined): { derived?: DerivedFields } => (v ? { derived: JSON.parse(v) as DerivedFields } : {});

const digestProblem = (position: number, saved: string, now: string) =>
  `snapshot rows (myko_state, myko_leaves) do not match the digest saved with the checkpoint at position ${position} (saved ${saved}, rows give ${now}): a snapshot row was changed, added or removed`;

/**
 * A checkpoint delta with its rows as the text they are stored as: built where the items live (the
 * writer's thread), so only strings cross to the store thread (thread.ts).
 */
export interface EncodedDelta {
  replace: boolean;
  position: number;
  eventId: string | null;
  chain: string;
  /**
   * The upserts: itemType and id of each, in order (two strings per upsert); each one's item JSON and
   * its pids JSON, each joined into one text (joined-texts.ts: why). Read back with `eachUpsert`.
   */
  upserts: { keys: string[]; items: string; pids: string };
  /** itemType, id, pids JSON. */
  deletes: [string, string, string][];
  /** DerivedFields as JSON; '' when the server declares none. */
  derived: string;
}

export function encodeDelta(d: CheckpointDelta): EncodedDelta {
  const keys: string[] = [];
  const items: string[] = [];
  const pids: string[] = [];
  for (const u of d.upserts) {
    keys.push(u.itemType, u.item.id);
    items.push(JSON.stringify(u.item));
    pids.push(JSON.stringify(u.pids));
  }
  const upserts = { keys, items: joinTexts(items), pids: joinTexts(pids) };
  const deletes: EncodedDelta['deletes'] = [];
  for (const x of d.deletes) deletes.push([x.itemType, x.id, JSON.stringify(x.pids)]);
  const derived = d.derived && Object.keys(d.derived).length > 0 ? JSON.stringify(d.derived) : '';
  return { replace: d.replace === true, position: d.position, eventId: d.eventId, chain: d.chain, upserts, deletes, derived };
}

/** Each upsert of an encoded delta, in order: its item and pids texts are slices of the joined ones (no copy). */
function eachUpsert(u: EncodedDelta['upserts'], fn: (itemType: string, id: string, item: string, pids: string) => void): void {
  const n = u.keys.length / 2;
  const items = splitTexts(u.items, n, `checkpoint of ${n} upserts, item texts`);
  const pids = splitTexts(u.pids, n, `checkpoint of ${n} upserts, pids texts`);
  for (let i = 0; i < n; i++) fn(u.keys[2 * i]!, u.keys[2 * i + 1]!, items[i]!, pids[i]!);
}

/** Incremental: the dirty items, the new position and the new digest in one transaction, so a checkpoint is never half-written. */
export type SaveCheckpoint = (delta: EncodedDelta) => void;

export function makeSaveCheckpoint(db: Db, digests: RowDigests): SaveCheckpoint {
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
  const stateRows = db.prepare(`SELECT item_type, item_id, item, pids FROM myko_state`);
  const leafRows = db.prepare(`SELECT item_type, item_id, pids FROM myko_leaves`);
  const digestNow = makeSnapshotDigest(db);
  /** Set when the rows were found not to match the saved digest: the in-memory hashes cannot stand for them. */
  let rowsDiverged = false;

  /** The in-memory hashes from the rows themselves (after a failed checkpoint, or with no load before). */
  const rebuild = () => {
    digests.reset();
    for (const r of stateRows.iterate() as Iterable<StateRow>) digests.set('S', r.item_type, r.item_id, stateRowHash(r.item_type, r.item_id, r.item, r.pids));
    for (const r of leafRows.iterate() as Iterable<LeafRow>) digests.set('L', r.item_type, r.item_id, leafRowHash(r.item_type, r.item_id, r.pids));
  };

  const save = db.transaction((d: EncodedDelta) => {
    // The first checkpoint with a digest (a new store, or one saved before digests) starts from a full pass.
    if (d.replace) {
      clearState.run();
      clearLeaves.run();
      digests.reset();
      rowsDiverged = false;
    }
    const saved = d.replace ? undefined : (getMeta.get('checkpoint_digest') as { value: string } | undefined)?.value;
    const trusted = () => digests.complete && (saved === undefined || saved === digests.digest());
    if (!trusted() && !rowsDiverged) {
      rebuild();
      rowsDiverged = !trusted();
    }
    let digest: string;
    if (trusted()) {
      // Each written row's hash replaces the old one's in memory; no row is read back.
      eachUpsert(d.upserts, (itemType, id, item, pids) => {
        upsert.run(itemType, id, item, pids);
        digests.set('S', itemType, id, stateRowHash(itemType, id, item, pids));
      });
      for (const [itemType, id, pids] of d.deletes) {
        if (digests.has('S', itemType, id)) {
          del.run(itemType, id);
          digests.delete('S', itemType, id);
        }
        leaf.run(itemType, id, pids);
        digests.set('L', itemType, id, leafRowHash(itemType, id, pids));
      }
      digest = digests.digest();
    } else {
      // The rows were changed behind the saved digest (a hand edit while running): carry the saved
      // digest forward as before, XORing out each replaced row as it now reads, so the change stays seen.
      digests.complete = false;
      const acc = Buffer.from(saved ?? digestNow(), 'hex');
      eachUpsert(d.upserts, (itemType, id, item, pids) => {
        const before = oldState.get(itemType, id) as { item: string; pids: string | null } | undefined;
        if (before) xorInto(acc, stateRowHash(itemType, id, before.item, before.pids));
        upsert.run(itemType, id, item, pids);
        xorInto(acc, stateRowHash(itemType, id, item, pids));
      });
      for (const [itemType, id, pids] of d.deletes) {
        const before = oldState.get(itemType, id) as { item: string; pids: string | null } | undefined;
        if (before) {
          xorInto(acc, stateRowHash(itemType, id, before.item, before.pids));
          del.run(itemType, id);
        }
        const beforeLeaf = oldLeaf.get(itemType, id) as { pids: string } | undefined;
        if (beforeLeaf) xorInto(acc, leafRowHash(itemType, id, beforeLeaf.pids));
        leaf.run(itemType, id, pids);
        xorInto(acc, leafRowHash(itemType, id, pids));
      }
      digest = acc.toString('hex');
    }
    setMeta.run('checkpoint_position', String(d.position));
    setMeta.run('checkpoint_event_id', d.eventId ?? '');
    setMeta.run('checkpoint_chain', d.chain);
    setMeta.run('checkpoint_digest', digest);
    setMeta.run('checkpoint_derived', d.derived);
  });
  return (d) => {
    try {
      save(d);
    } catch (err) {
      // Rolled back: the in-memory hashes may hold rows that are not stored. Rebuilt from the rows next time.
      digests.complete = false;
      rowsDiverged = false;
      throw err;
    }
  };
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
