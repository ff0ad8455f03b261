import type { Checkpoint, DerivedFields, EventStore } from '../store/event-store.js';
import type { MItem } from '@myko/protocol';
import { dataHash, itemKey } from '../core/identity.js';
import type { ItemMap } from '../core/item-map.js';

/** One item's state in the log as verify walks it: its last data hash (null once deleted) and its leaves. */
export interface ItemRecord {
  itemType: string;
  id: string;
  dHash: string | null;
  pids: string[];
}

/**
 * What verify holds the saved snapshot to: each item's data hash (not its data) and each leaf row, and
 * whether the rows match their digest (`problem`, as loadCheckpoint reports it). Small enough to cross
 * from the worker that reads them (log/verify-worker.ts), which then does the snapshot's share of the
 * hashing while the log is checked. `error`: loading the rows failed (with that message).
 */
export interface SnapshotFacts {
  problem?: string | undefined;
  error?: string;
  items: { itemType: string; id: string; dHash: string }[];
  leaves: Checkpoint['leaves'];
}

export function snapshotFacts(cp: Checkpoint): SnapshotFacts {
  return {
    ...(cp.problem ? { problem: cp.problem } : {}),
    items: Array.from(cp.items, ({ itemType, item }) => ({ itemType, id: item.id, dHash: dataHash(item) })),
    leaves: Array.isArray(cp.leaves) ? cp.leaves : Array.from(cp.leaves),
  };
}

/**
 * The saved snapshot against the log replayed to the checkpoint's position:
 * the same items, each with the data of its last SET (by data hash) and the
 * same leaves, deleted items' leaves included. The digest shows the rows were
 * not changed since they were saved; this shows they were right when saved.
 */
export function snapshotAgainstLog(
  cp: SnapshotFacts,
  expected: ItemMap<ItemRecord>,
  /**
   * Types whose snapshot items hold reverse-reference fields as state fills them (DerivedFields): one of
   * them that differs from its last SET is not a failure here but goes to `recheck`, where the caller
   * compares it with that SET without those fields (recheckDerived).
   */
  derived: DerivedFields = {},
  recheck: { itemType: string; id: string }[] = [],
): { itemType: string; itemId: string; reason: string } | undefined {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
  const at = (itemType: string, itemId: string, reason: string) => ({ itemType, itemId, reason: `snapshot: ${reason}` });
  const live = new Set<string>();
  for (const { itemType, id, dHash } of cp.items) {
    const key = itemKey(itemType, id);
    live.add(key);
    const want = expected.get(itemType, id);
    if (!want || want.dHash === null) return at(itemType, id, 'holds an item that the log, at the checkpoint position, does not (never set, or deleted)');
    if (dHash !== want.dHash) {
      if (derived[itemType]?.length) recheck.push({ itemType, id });
      else return at(itemType, id, DIFFERS);
    }
  }
  const seenLeaves = new Set<string>();
  for (const l of cp.leaves) {
    const key = itemKey(l.itemType, l.id);
    seenLeaves.add(key);
    const want = expected.get(l.itemType, l.id);
    if (!want || !same(l.pids, want.pids)) return at(l.itemType, l.id, `leaves [${l.pids.join(', ')}] are not the log's [${want?.pids.join(', ') ?? ''}]`);
  }
  for (const want of expected.values()) {
    const key = itemKey(want.itemType, want.id);
    if (want.dHash !== null && !live.has(key)) return at(want.itemType, want.id, 'lacks an item the log holds at the checkpoint position');
    if (!seenLeaves.has(key)) return at(want.itemType, want.id, 'lacks the leaves of an item of the log');
  }
  return undefined;
}

const DIFFERS = 'the item differs from its last SET in the log before the checkpoint position';

/**
 * The snapshot items snapshotAgainstLog set aside: each against the last SET of its item at or before the
 * checkpoint's position, both without the type's reverse-reference fields. Those fields are state's view
 * (the ids the sender listed, kept current with the items that name it: core/backrefs.ts), so a
 * Rocketship Target whose Emitters name it holds ids its own SET never sent; every other field must be
 * the SET's. The fields themselves are covered by the snapshot digest, not by the log. Reads each item's
 * history: a handful of rows per item, only for the items that differ.
 */
export async function recheckDerived(
  store: EventStore,
  position: number,
  derived: DerivedFields,
  recheck: readonly { itemType: string; id: string }[],
): Promise<{ itemType: string; itemId: string; reason: string } | undefined> {
  if (recheck.length === 0) return undefined;
  const want = new Set(recheck.map((r) => itemKey(r.itemType, r.id)));
  const saved = new Map<string, MItem>();
  for (const { itemType, item } of (await store.loadCheckpoint()).items) {
    const key = itemKey(itemType, item.id);
    if (want.has(key)) saved.set(key, item);
  }
  for (const { itemType, id } of recheck) {
    const fields = derived[itemType] ?? [];
    const history = await store.readHistory(itemType, id);
    let last: MItem | undefined;
    for (const e of history) if (e.position <= position) last = e.changeType === 'SET' ? e.item : undefined;
    const item = saved.get(itemKey(itemType, id));
    if (!last || !item || dataHash(without(item, fields)) !== dataHash(without(last, fields)))
      return { itemType, itemId: id, reason: `snapshot: ${DIFFERS}${fields.length ? ` (beside ${fields.join(', ')}, which state derives)` : ''}` };
  }
  return undefined;
}

function without(item: MItem, fields: readonly string[]): MItem {
  const out: Record<string, unknown> = { ...item };
  for (const f of fields) delete out[f];
  return out as MItem;
}
