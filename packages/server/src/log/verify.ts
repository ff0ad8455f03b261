import type { EventStore, StoreClaims, StoredEvent } from '../store/event-store.js';
import { chainHash, dataHash, eventId, isoTs, itemKey, type EventIdentity } from '../core/identity.js';

export interface VerifyFailure {
  position: number;
  itemType?: string;
  itemId?: string;
  eventId?: string;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  lastPosition: number;
  failure?: VerifyFailure;
  ms: number;
}

export interface VerifyOptions {
  onProgress?: (checked: number, total: number) => void;
  chunk?: number;
}

/**
 * Walk the log in order and recompute every event's identity (core/identity.ts):
 * data hash, timestamp, id, parents and chain. Stops at the first event that
 * does not match and says why. Parents must be events already seen, of the
 * same item; on a single-writer store they must be exactly the item's latest
 * event. Memory: the ids seen (a 64-bit prefix each) and each item's leaves.
 *
 * Then, where the store records them (SQLite), holds the log against its own
 * claims: the log must end exactly at the head the last append recorded (so
 * deleting the last events is found), the checkpoint's event must be at its
 * position, and the snapshot rows must match their digest.
 */
export async function verifyLog(store: EventStore, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const t0 = performance.now();
  const claims: StoreClaims = (await store.claims?.()) ?? {};
  const total = await store.lastPosition();
  const cp = claims.checkpoint;
  let idAtCheckpoint: string | undefined;
  let lastId = '';
  // Each item as of the checkpoint's position, from the log: its data hash (null once deleted) and leaves.
  const atCheckpoint = new Map<string, { itemType: string; id: string; dHash: string | null; pids: string[] }>();
  const chunk = opts.chunk ?? 5000;
  const seen = new Set<string>();
  const leaves = new Map<string, string[]>();
  const heads = new Map<string, string>();
  let checked = 0;
  let prev = 0;
  const done = (failure?: VerifyFailure): VerifyResult => ({
    ok: !failure,
    checked,
    lastPosition: prev,
    ms: Math.round(performance.now() - t0),
    ...(failure ? { failure } : {}),
  });

  for (;;) {
    const rows = await store.readRawAfter(prev, chunk);
    if (rows.length === 0) break;
    for (const row of rows) {
      const at = { position: row.position, itemType: row.itemType, itemId: row.itemId };
      if (store.gapless && row.position !== prev + 1)
        return done({ ...at, reason: `events at positions ${prev + 1}..${row.position - 1} are missing` });
      let e: StoredEvent;
      try {
        e = { ...(JSON.parse(row.event) as StoredEvent), position: row.position };
      } catch (err) {
        return done({ ...at, reason: `stored event is not valid JSON: ${(err as Error).message}` });
      }
      const problem = check(e, row, seen, leaves, heads, store.gapless);
      if (problem) return done({ ...at, eventId: e.identity?._id, reason: problem });
      const id = e.identity!;
      seen.add(id._id.slice(0, 16));
      const key = itemKey(e.itemType, e.item.id);
      const before = leaves.get(key) ?? [];
      const now = [...before.filter((p) => !id.pids.includes(p)), id._id];
      leaves.set(key, now);
      if (cp && row.position <= cp.position)
        atCheckpoint.set(key, { itemType: e.itemType, id: e.item.id, dHash: e.changeType === 'DEL' ? null : id.dHash, pids: now });
      heads.set(id.src, id.chain);
      if (cp && row.position === cp.position) idAtCheckpoint = id._id;
      lastId = id._id;
      prev = row.position;
      checked++;
    }
    opts.onProgress?.(checked, total);
  }
  const end = { position: prev + 1, reason: '' };
  const head = claims.head;
  if (head && head.position > prev) {
    const n = head.position - prev;
    return done({ ...end, reason: `the log ends at position ${prev}, but the store recorded appending up to position ${head.position} (event ${head.eventId}): the last ${n === 1 ? 'event is' : `${n} events are`} missing` });
  }
  if (head && head.position < prev)
    return done({ ...end, position: head.position + 1, reason: `events after position ${head.position}, the last one the store recorded appending, were not written by an append` });
  if (head && head.eventId !== lastId)
    return done({ position: prev, eventId: lastId, reason: `the last event is not the one the store recorded appending (${head.eventId})` });
  if (cp && cp.position > prev)
    return done({ ...end, reason: `the log ends at position ${prev}, but the checkpoint was taken at position ${cp.position} (event ${cp.eventId}): events up to it are missing` });
  if (cp && cp.position > 0 && (cp.eventId ?? '') !== (idAtCheckpoint ?? ''))
    return done({ position: cp.position, ...(idAtCheckpoint ? { eventId: idAtCheckpoint } : {}), reason: `the checkpoint claims event ${cp.eventId} at this position, the log holds ${idAtCheckpoint ?? 'none'}` });
  if (cp?.problem) return done({ position: cp.position, reason: cp.problem });
  if (cp && cp.position > 0) {
    const problem = await snapshotAgainstLog(store, atCheckpoint);
    if (problem) return done({ position: cp.position, ...problem });
  }
  return done();
}

/**
 * The saved snapshot against the log replayed to the checkpoint's position:
 * the same items, each with the data of its last SET (by data hash) and the
 * same leaves, deleted items' leaves included. The digest shows the rows were
 * not changed since they were saved; this shows they were right when saved.
 */
async function snapshotAgainstLog(
  store: EventStore,
  expected: Map<string, { itemType: string; id: string; dHash: string | null; pids: string[] }>,
): Promise<{ itemType: string; itemId: string; reason: string } | undefined> {
  const cp = await store.loadCheckpoint();
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
  const at = (itemType: string, itemId: string, reason: string) => ({ itemType, itemId, reason: `snapshot: ${reason}` });
  const live = new Set<string>();
  for (const { itemType, item } of cp.items) {
    const key = itemKey(itemType, item.id);
    live.add(key);
    const want = expected.get(key);
    if (!want || want.dHash === null) return at(itemType, item.id, 'holds an item that the log, at the checkpoint position, does not (never set, or deleted)');
    if (dataHash(item) !== want.dHash) return at(itemType, item.id, 'the item differs from its last SET in the log before the checkpoint position');
  }
  const seenLeaves = new Set<string>();
  for (const l of cp.leaves) {
    const key = itemKey(l.itemType, l.id);
    seenLeaves.add(key);
    const want = expected.get(key);
    if (!want || !same(l.pids, want.pids)) return at(l.itemType, l.id, `leaves [${l.pids.join(', ')}] are not the log's [${want?.pids.join(', ') ?? ''}]`);
  }
  for (const want of expected.values()) {
    const key = itemKey(want.itemType, want.id);
    if (want.dHash !== null && !live.has(key)) return at(want.itemType, want.id, 'lacks an item the log holds at the checkpoint position');
    if (!seenLeaves.has(key)) return at(want.itemType, want.id, 'lacks the leaves of an item of the log');
  }
  return undefined;
}

function check(
  e: StoredEvent,
  row: { itemType: string; itemId: string; changeType: string },
  seen: Set<string>,
  leaves: Map<string, string[]>,
  heads: Map<string, string>,
  singleWriter: boolean,
): string | undefined {
  const id: EventIdentity | undefined = e.identity;
  if (!id || typeof id._id !== 'string' || !Array.isArray(id.pids)) return 'event has no identity (_id, pids, dHash, ts, src, chain)';
  if (!e.item || typeof e.item.id !== 'string') return 'event has no item id';
  if (row.itemType !== e.itemType || row.itemId !== e.item.id || row.changeType !== e.changeType)
    return `indexed columns (${row.itemType}/${row.itemId} ${row.changeType}) do not match the stored event (${e.itemType}/${e.item.id} ${e.changeType})`;
  if (dataHash(e.item) !== id.dHash) return 'item data does not match its dHash: the data was changed after it was written';
  if (Number.isNaN(Date.parse(e.createdAt)) || isoTs(e.createdAt) !== id.ts) return `createdAt ${e.createdAt} does not match ts ${id.ts}`;
  const recomputed = eventId({ cid: e.item.id, ct: e.itemType, dHash: id.dHash, pids: id.pids, src: id.src, t: e.changeType, ts: id.ts });
  if (recomputed !== id._id) return `_id does not match the event's content (recomputed ${recomputed})`;
  if (seen.has(id._id.slice(0, 16))) return 'duplicate event id: this event appears twice';
  for (const p of id.pids) if (!seen.has(p.slice(0, 16))) return `parent ${p} is not an earlier event: an event is missing or out of order`;
  const current = leaves.get(itemKey(e.itemType, e.item.id)) ?? [];
  if (singleWriter && (current.length !== id.pids.length || current.some((p) => !id.pids.includes(p))))
    return `parents [${id.pids.join(', ')}] are not the item's latest event [${current.join(', ')}]: an event of this item is missing or out of order`;
  if (chainHash(heads.get(id.src) ?? '', id._id) !== id.chain)
    return `chain link broken: an event accepted before this one by server ${id.src} is missing, reordered or altered`;
  return undefined;
}
