import type { EventStore, StoreClaims } from '../store/event-store.js';
import { chainHash } from '../core/identity.js';
import { ItemMap } from '../core/item-map.js';
import { IdPrefixes } from './id-prefixes.js';
import { hexWidth, toBatch, walkRows } from './verify-rows.js';
import { threadsFor, VerifyPool, type CheckedRange } from './verify-pool.js';
import { recheckDerived, snapshotProblem, type ItemRecord, type SnapshotSummary } from './verify-snapshot.js';

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
  /** Worker threads for the per-event hashing (log/verify-pool.ts); 0 = this thread. Default: by the log's size. */
  threads?: number;
}

/**
 * Walk the log in order and recompute every event's identity (core/identity.ts):
 * data hash, timestamp, id, parents and chain. Stops at the first event that
 * does not match and says why. Parents must be events already seen, of the
 * same item; on a single-writer store they must be exactly the item's latest
 * event. Memory: the ids seen (a 64-bit prefix each) and each item's leaves.
 *
 * What needs only the event (its hashes and id, most of the work) is done by
 * batch in log/verify-rows.ts, on worker threads for a large log; what needs
 * the log before it (duplicates, parents, leaves, each server's chain) here,
 * in order, so the first failure found is the same either way.
 *
 * Then, where the store records them (SQLite), holds the log against its own
 * claims: the log must end exactly at the head the last append recorded (so
 * deleting the last events is found), the checkpoint's event must be at its
 * position, and the snapshot's segments must match their digest.
 */
export async function verifyLog(store: EventStore, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const t0 = performance.now();
  const total = await store.lastPosition();
  const threads = opts.threads ?? threadsFor(total);
  // Where the workers can read the log themselves (log/verify-pool.ts), they also load the snapshot: its
  // digest is then checked there, not here before the walk.
  const file = threads > 0 ? store.readableFile?.() : undefined;
  const claims: StoreClaims = (await store.claims?.(file ? { digest: false } : {})) ?? {};
  const cp = claims.checkpoint;
  let idAtCheckpoint: string | undefined;
  let lastId = '';
  const items = new ItemMap<ItemRecord>();
  // Each item as of the checkpoint's position: copied from `items` when the walk passes it.
  let atCheckpoint: ItemMap<ItemRecord> | undefined;

  const seen = new IdPrefixes(total);
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

  const pool = new VerifyPool(threads, file);
  // The snapshot's share (its rows read, parsed, digested, each item's data hashed) on a thread of its
  // own while the log is walked, rather than after it here. Unawaited when verify stops early.
  const snapshot = pool.reads && cp ? pool.snapshot() : undefined;
  snapshot?.catch(() => undefined);
  let summary: SnapshotSummary | undefined;
  // Small batches for workers: a batch's texts live until it is answered, and fewer of them alive at a
  // time cost the collectors less (about a tenth of verify's time against batches of 5000).
  const chunk = opts.chunk ?? (pool.threads > 0 ? 1000 : 5000);
  const read = store.readRawColumnsAfter
    ? (after: number) => store.readRawColumnsAfter!(after, chunk)
    : async (after: number) => toBatch(await store.readRawAfter(after, chunk));
  const noPids: string[] = [];
  try {
    // Batches read ahead and in flight on the workers, answered in log order.
    const inFlight: Promise<CheckedRange>[] = [];
    let readTo = 0;
    let readAll = false;
    const readAhead = async () => {
      while (!readAll && inFlight.length < pool.depth) {
        if (pool.reads) {
          // The workers read their rows themselves, by ranges of positions up to the last one (the store
          // holds writers out, so it stays the last).
          if (readTo >= total) readAll = true;
          else inFlight.push(pool.checkRange(readTo, (readTo = Math.min(total, readTo + chunk))));
          continue;
        }
        const batch = await read(readTo);
        const n = batch.positions.length;
        if (n === 0) {
          readAll = true;
          break;
        }
        readTo = batch.positions[n - 1]!;
        const checked = pool.check(batch);
        // The texts went to the worker (copied): holding them here too until the answer only gave the
        // collector megabytes more to copy and promote.
        if (pool.threads > 0) batch.events = [];
        const rows = walkRows(batch);
        inFlight.push(checked.then((checked) => ({ rows, checked })));
      }
    };
    for (;;) {
      await readAhead();
      const next = inFlight.shift();
      if (!next) break;
      const { rows, checked: c } = await next;
      let pidAt = 0; // in c.pids, characters
      let pidIndex = 0; // in c.pidLengths, parents
      let firstChainAt = 0;
      let run = 0;
      let src = '';
      let typeRun = 0;
      let itemType = '';
      const at = (i: number) => ({ position: rows.positions[i]!, itemType, itemId: rows.itemIds[i]! });
      for (let i = 0; i < rows.positions.length; i++) {
        if (rows.typeStarts[typeRun] === i) itemType = rows.typeNames[typeRun++]!;
        const position = rows.positions[i]!;
        if (store.gapless && position !== prev + 1)
          return done({ ...at(i), reason: `events at positions ${prev + 1}..${position - 1} are missing` });
        if (i === c.ok) return done({ ...at(i), ...c.failure! });
        if (cp && position > cp.position && !atCheckpoint) atCheckpoint = copyOf(items);
        const itemId = rows.itemIds[i]!;
        const _id = c.ids.slice(i * hexWidth, (i + 1) * hexWidth);
        if (c.srcStarts[run] === i) src = c.srcNames[run++]!;
        const nPids = c.pidCounts[i]!;
        if (!seen.add(_id)) return done({ ...at(i), eventId: _id, reason: 'duplicate event id: this event appears twice' });
        const rec = items.get(itemType, itemId);
        const current = rec?.pids ?? noPids;
        // The common case, one parent that is the item's one leaf, is compared in place; any other is
        // taken out as an array.
        let pids = noPids;
        let areLeaves: boolean;
        if (nPids === 1 && current.length === 1 && c.pidLengths.length === 0) {
          areLeaves = c.pids.startsWith(current[0]!, pidAt);
          if (!areLeaves) pids = [c.pids.slice(pidAt, pidAt + hexWidth)];
          pidAt += hexWidth;
          pidIndex++;
        } else {
          if (nPids > 0) pids = new Array<string>(nPids);
          for (let k = 0; k < nPids; k++) {
            const len = c.pidLengths.length === 0 ? hexWidth : c.pidLengths[pidIndex]!;
            const text = c.pids.slice(pidAt, (pidAt += len < 0 ? -1 - len : len));
            // Not a string in the event: never equal to an id (see CheckedBatch.pidLengths).
            pids[k] = len < 0 ? (new String(text) as unknown as string) : text;
            pidIndex++;
          }
          // Parents that are exactly the item's leaves were seen (every leaf was): only others are looked up.
          areLeaves = current.length === nPids && allIn(current, pids);
        }
        if (!areLeaves) {
          const problem = parentProblem(pids, current, seen, store.gapless);
          if (problem) return done({ ...at(i), eventId: _id, reason: problem });
        }
        const link = c.chainLinks[i];
        if (!(link === 2 ? chainHash(heads.get(src) ?? '', _id) === c.firstChains[firstChainAt++] : link === 1))
          return done({ ...at(i), eventId: _id, reason: `chain link broken: an event accepted before this one by server ${src} is missing, reordered or altered` });
        const dHash = rows.dels[i] === 1 ? null : c.dHashes.slice(i * hexWidth, (i + 1) * hexWidth);
        if (rec) {
          // When the parents are the leaves, they all go: one leaf is replaced in place (copyOf copies the arrays).
          if (areLeaves && current.length === 1) current[0] = _id;
          else rec.pids = current.length === 0 || areLeaves ? [_id] : [...current.filter((p) => !pids.includes(p)), _id];
          rec.dHash = dHash;
        } else items.set(itemType, itemId, { itemType, id: itemId, dHash, pids: [_id] });
        if (cp && position === cp.position) idAtCheckpoint = _id;
        lastId = _id;
        prev = position;
        checked++;
      }
      for (const [src, chain] of c.lastChains) heads.set(src, chain);
      opts.onProgress?.(checked, total);
    }
    summary = await snapshot;
  } finally {
    await pool.close();
  }
  if (cp && !atCheckpoint) atCheckpoint = items;
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
  const cpProblem = cp?.problem ?? summary?.problem;
  if (cp && cpProblem) return done({ position: cp.position, reason: cpProblem });
  if (cp && cp.position > 0) {
    if (summary?.error !== undefined) throw new Error(summary.error);
    const derived = cp.derived ?? {};
    const recheck: { itemType: string; id: string }[] = [];
    // The worker's summary stands for the item-by-item comparison when it agrees; otherwise (or without
    // workers) the snapshot is loaded here and compared item by item.
    const problem =
      (await snapshotProblem(summary, () => store.loadCheckpoint(), atCheckpoint!, derived, recheck)) ??
      (await recheckDerived(store, cp.position, derived, recheck));
    if (problem) return done({ position: cp.position, ...problem });
  }
  return done();
}

function copyOf(items: ItemMap<ItemRecord>): ItemMap<ItemRecord> {
  const copy = new ItemMap<ItemRecord>();
  for (const r of items.values()) copy.set(r.itemType, r.id, { ...r, pids: [...r.pids] });
  return copy;
}

/** Every one of `xs` is in `ys`. */
function allIn(xs: readonly string[], ys: readonly string[]): boolean {
  for (const x of xs) if (!ys.includes(x)) return false;
  return true;
}

/** Parents that are not the item's leaves: each must be an earlier event, and on a single-writer store there are none. */
function parentProblem(pids: readonly string[], current: readonly string[], seen: IdPrefixes, singleWriter: boolean): string | undefined {
  for (const p of pids) if (!seen.has(p)) return `parent ${p} is not an earlier event: an event is missing or out of order`;
  if (singleWriter)
    return `parents [${pids.join(', ')}] are not the item's latest event [${current.join(', ')}]: an event of this item is missing or out of order`;
  return undefined;
}
