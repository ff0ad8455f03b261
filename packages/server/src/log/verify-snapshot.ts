import type { Checkpoint } from '../store/event-store.js';
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
): { itemType: string; itemId: string; reason: string } | undefined {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
  const at = (itemType: string, itemId: string, reason: string) => ({ itemType, itemId, reason: `snapshot: ${reason}` });
  const live = new Set<string>();
  for (const { itemType, id, dHash } of cp.items) {
    const key = itemKey(itemType, id);
    live.add(key);
    const want = expected.get(itemType, id);
    if (!want || want.dHash === null) return at(itemType, id, 'holds an item that the log, at the checkpoint position, does not (never set, or deleted)');
    if (dHash !== want.dHash) return at(itemType, id, 'the item differs from its last SET in the log before the checkpoint position');
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
