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
 * What verify holds the saved snapshot to, item by item: each item's data hash (not its data) and each
 * leaf row, and whether the rows match their digest (`problem`, as loadCheckpoint reports it). Made on
 * the thread that compares them: where workers read the log, the snapshot's worker sends a
 * SnapshotSummary instead, and these are made only when it disagrees. `error`: loading the rows failed.
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
 * The saved snapshot as the worker that read it sends it (log/verify-worker.ts), without an object per
 * item: two order-free digests (EntryDigest), one over the live items' data hashes and one over every
 * item's leaves, which the walk's own records give again (digestOf); and in full only the items of
 * types whose fields state derives (DerivedFields), which may differ from their last SET and are
 * compared one by one (snapshotAgainstLog's `recheck`). When both sides agree, the snapshot holds what
 * the log does; when they do not, verify loads the snapshot and runs snapshotAgainstLog, which names the
 * first difference (snapshotProblem). 100,000 items sent as objects cost more than the snapshot's whole
 * hashing: their copy to the walking thread, and their weight in its collector for the rest of the walk.
 */
export interface SnapshotSummary {
  problem?: string | undefined;
  error?: string;
  digest: SnapshotDigest;
  /** The live items of derived types, with their data hashes. */
  derivedItems: { itemType: string; id: string; dHash: string }[];
}

/** `items`: the live items, each a data hash (or, for a derived type, only that it is live); `leaves`: every item's leaves. */
export interface SnapshotDigest {
  items: string;
  itemCount: number;
  leaves: string;
  leafCount: number;
}

export function snapshotSummary(cp: Checkpoint): SnapshotSummary {
  const derived = cp.derived ?? {};
  const items = new EntryDigest();
  const leaves = new EntryDigest();
  const derivedItems: SnapshotSummary['derivedItems'] = [];
  for (const { itemType, item } of cp.items) {
    const dHash = dataHash(item);
    if (derived[itemType]?.length) {
      derivedItems.push({ itemType, id: item.id, dHash });
      items.add(itemType, item.id, LIVE);
    } else items.add(itemType, item.id, dHash);
  }
  for (const { itemType, id, pids } of cp.leaves) leaves.addLeaves(itemType, id, pids);
  return { ...(cp.problem ? { problem: cp.problem } : {}), digest: digestFrom(items, leaves), derivedItems };
}

/** The same digests from the log's records at the checkpoint's position. */
export function digestOf(expected: ItemMap<ItemRecord>, derived: DerivedFields): SnapshotDigest {
  const items = new EntryDigest();
  const leaves = new EntryDigest();
  for (const r of expected.values()) {
    if (r.dHash !== null) items.add(r.itemType, r.id, derived[r.itemType]?.length ? LIVE : r.dHash);
    leaves.addLeaves(r.itemType, r.id, r.pids);
  }
  return digestFrom(items, leaves);
}

const digestFrom = (items: EntryDigest, leaves: EntryDigest): SnapshotDigest => ({ items: items.hex(), itemCount: items.count, leaves: leaves.hex(), leafCount: leaves.count });

/**
 * The summary against the log's records: undefined when they agree (the derived types' items that differ
 * from their last SET pushed to `recheck`, as snapshotAgainstLog does), 'differs' when they do not, and
 * snapshotAgainstLog must then find where.
 */
export function summaryAgainstLog(
  summary: SnapshotSummary,
  expected: ItemMap<ItemRecord>,
  derived: DerivedFields,
  recheck: { itemType: string; id: string }[],
): 'differs' | undefined {
  const want = digestOf(expected, derived);
  const got = summary.digest;
  if (got.items !== want.items || got.itemCount !== want.itemCount || got.leaves !== want.leaves || got.leafCount !== want.leafCount) return 'differs';
  // Agreeing digests say these are live in both; only their data remains to compare.
  for (const { itemType, id, dHash } of summary.derivedItems) if (expected.get(itemType, id)?.dHash !== dHash) recheck.push({ itemType, id });
  return undefined;
}

/**
 * The snapshot against the log's records, as verify decides it: by the summary when one was made and
 * agrees, else item by item from the snapshot `load` gives (which names the first difference). The
 * same answer, and the same `recheck`, as snapshotAgainstLog over the whole snapshot.
 */
export async function snapshotProblem(
  summary: SnapshotSummary | undefined,
  load: () => Promise<Checkpoint>,
  expected: ItemMap<ItemRecord>,
  derived: DerivedFields,
  recheck: { itemType: string; id: string }[],
): Promise<{ itemType: string; itemId: string; reason: string } | undefined> {
  // summaryAgainstLog adds to `recheck` only when the digests agree: nothing to take back when they do not.
  if (summary !== undefined && summaryAgainstLog(summary, expected, derived, recheck) === undefined) return undefined;
  return snapshotAgainstLog(snapshotFacts(await load()), expected, derived, recheck);
}

/** In a live item's place where its data hash is not compared (a derived type): not a hash, so never equal to one. */
const LIVE = 'live';
/** In the place of leaves that hold a parent the log has as other than a string: no snapshot's leaves give it. */
const NOT_IDS = -1;

/**
 * An order-free digest of entries: the sum, modulo 2^32 in each of two lanes, of a 64-bit hash of each
 * entry (type, id, then a data hash or the sorted leaves, each part with its length in front, so no two
 * entries hash the same text). Keys are unique on each side, and the two sides hash the same way, so
 * any difference between them changes a sum but with a chance of 2^-64. Not a defence against someone
 * who rewrites the snapshot on purpose (the snapshot's SHA-256 digest and the log's chain are); a
 * check that the checkpointer saved what the log holds, at a fraction of a cryptographic hash per entry.
 */
class EntryDigest {
  private a = 0;
  private b = 0;
  count = 0;
  private ha = 0;
  private hb = 0;

  private begin(): void {
    this.ha = 0x811c9dc5;
    this.hb = 0x9747b28c;
  }

  private part(s: string): void {
    let a = this.ha;
    let b = this.hb;
    const n = s.length;
    a = Math.imul(a ^ n, 0x01000193);
    b = Math.imul(b ^ n, 0x5bd1e995);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.ha = a;
    this.hb = b;
  }

  private end(): void {
    this.a = (this.a + fmix32(this.ha)) | 0;
    this.b = (this.b + fmix32(this.hb ^ 0x2545f491)) | 0;
    this.count++;
  }

  add(itemType: string, id: string, value: string): void {
    this.begin();
    this.part(itemType);
    this.part(id);
    this.part(value);
    this.end();
  }

  /** The entry of an item's leaves, as sets: sorted first. */
  addLeaves(itemType: string, id: string, pids: readonly unknown[]): void {
    this.begin();
    this.part(itemType);
    this.part(id);
    let strings = true;
    for (const p of pids) if (typeof p !== 'string') strings = false;
    if (!strings) this.ha = Math.imul(this.ha ^ NOT_IDS, 0x01000193);
    else for (const p of pids.length < 2 ? (pids as string[]) : [...(pids as string[])].sort()) this.part(p);
    this.hb = Math.imul(this.hb ^ pids.length, 0x5bd1e995);
    this.end();
  }

  hex(): string {
    return [this.a, this.b].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }
}

/** MurmurHash3's finaliser: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
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
