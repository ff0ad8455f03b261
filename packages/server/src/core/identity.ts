import * as nodeCrypto from 'node:crypto';
import { canonicalJson } from '@myko/protocol';
import type { NewEvent } from '../store/event-store.js';
import { ItemMap } from './item-map.js';

/**
 * Content addresses of stored events (seed 003, WIRE.md 5).
 *
 *   dHash = sha256hex(canonicalJson(item))                      the original data `o`
 *   ts    = new Date(createdAt).toISOString()                   ISO-8601 UTC, milliseconds
 *   pids  = ids of the item's current leaves, sorted            [] for its first event
 *   _id   = sha256hex(canonicalJson({cid, ct, dHash, pids, src, t, ts}))
 *           with ct = itemType, cid = item id, t = changeType, src = accepting server id
 *   chain = sha256hex(prevChain + _id)                          prevChain = '' for a server's first event
 *
 * `_id` and `pids` make each item's history a hash-linked DAG, exactly as the
 * seed describes. `chain` is ours: it links every event a server accepted in
 * append order, so a dropped or reordered event is found even between events
 * of different items, which the per-item DAG alone cannot see.
 */
export interface EventIdentity {
  _id: string;
  pids: string[];
  src: string;
  dHash: string;
  ts: string;
  chain: string;
}

/** One-shot `crypto.hash` (Node ≥ 20.12) is about 3× cheaper than createHash for short inputs; same digest. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;
export const sha256 = oneShot ? (s: string) => oneShot('sha256', s, 'hex') : (s: string) => nodeCrypto.createHash('sha256').update(s).digest('hex');

export const itemKey = (itemType: string, id: string) => itemType + '\u0000' + id;

/**
 * The dHash of items hashed by the server outside normalisation (relations' ensured items; events
 * from normalisation carry theirs, see EVENT_DHASH), computed with the item hash (which has the
 * item's canonical JSON in hand) so the writer neither serialises the same item again nor keeps its text:
 * a 64-character digest waits for the commit instead of the item's whole canonical JSON, which lived
 * as long as the event was in flight and was copied by every young-generation collection meanwhile.
 * Items are never mutated once normalised, so the digest cannot go stale. It is forgotten once used,
 * when the writer identifies the item's event.
 *
 * A plain Map, not a WeakMap: every ingested item passed through a WeakMap,
 * and its ephemeron table made the garbage collector the largest cost of
 * ingest (22% of the event loop with the store on its thread). An item
 * normalised but never committed (its batch refused) would stay here, so the
 * map is emptied past a bound: the digest is an optimisation, and `dataHash`
 * serialises an item it does not find.
 */
const dataHashOfItem = new Map<object, string>();
const REMEMBERED_MAX = 1 << 16;
export function rememberDataHash(item: object, dHash: string): void {
  if (dataHashOfItem.size >= REMEMBERED_MAX) dataHashOfItem.clear();
  dataHashOfItem.set(item, dHash);
}

export function dataHash(item: unknown): string {
  if (typeof item === 'object' && item !== null) {
    const known = dataHashOfItem.get(item);
    if (known !== undefined) {
      dataHashOfItem.delete(item);
      return known;
    }
  }
  return sha256(canonicalJson(item));
}

/**
 * On an event made by normalisation: its item's dHash, and the item it was computed for (an event
 * copied with another item does not take it: the digest is used only while `item` is that one).
 * Carried by the event itself, no map to set, look up and delete per event. Symbol keys:
 * JSON.stringify (the stored row), Object.keys, for…in and cbor-x never see them.
 */
export const EVENT_DHASH = Symbol('myko.eventDHash');
export const EVENT_DHASH_OF = Symbol('myko.eventDHashOf');
export interface CarriesDataHash {
  [EVENT_DHASH]?: string | undefined;
  [EVENT_DHASH_OF]?: object | undefined;
}

/** The dHash of an event's item: the one normalisation carried on the event, else `dataHash`. */
export function eventDataHash(e: Pick<NewEvent, 'item'>): string {
  const c = e as CarriesDataHash;
  const known = c[EVENT_DHASH];
  return known !== undefined && c[EVENT_DHASH_OF] === e.item ? known : dataHash(e.item);
}

/**
 * canonicalJson({cid, ct, dHash, pids, src, t, ts}), written out directly:
 * those keys are already in canonical (sorted) order and every value is a
 * string or an array of strings, so this is byte-for-byte the same text
 * (identity.unit.test.ts checks it against canonicalJson).
 */
export function eventIdInput(f: { cid: string; ct: string; dHash: string; pids: readonly string[]; src: string; t: string; ts: string }): string {
  return idInputSorted(f, f.pids.length < 2 ? f.pids : [...f.pids].sort());
}

/** eventIdInput with `pids` already sorted (computeIdentity sorts them once, for the identity too). */
function idInputSorted(f: { cid: string; ct: string; dHash: string; src: string; t: string; ts: string }, sortedPids: readonly string[]): string {
  const pids = sortedPids.length === 0 ? '[]' : JSON.stringify(sortedPids);
  return `{"cid":${JSON.stringify(f.cid)},"ct":${jsonOfType(f.ct)},"dHash":${JSON.stringify(f.dHash)},"pids":${pids},"src":${jsonOfSrc(f.src)},"t":${jsonOfChange(f.t)},"ts":${JSON.stringify(f.ts)}}`;
}

/**
 * JSON strings of the fields that repeat from event to event (the item type, the server id, the
 * change type): each made once and reused, the same text JSON.stringify gives.
 */
let lastType = '';
let lastTypeJson = '""';
const jsonOfType = (t: string): string => (t === lastType ? lastTypeJson : ((lastType = t), (lastTypeJson = JSON.stringify(t))));
let lastSrc = '';
let lastSrcJson = '""';
const jsonOfSrc = (s: string): string => (s === lastSrc ? lastSrcJson : ((lastSrc = s), (lastSrcJson = JSON.stringify(s))));
const jsonOfChange = (t: string): string => (t === 'SET' ? '"SET"' : t === 'DEL' ? '"DEL"' : JSON.stringify(t));

/**
 * The _id input of an event whose dHash and ts need no escaping: this server's own (its hex digest, a
 * toISOString), and a stored event `myko verify` has already checked both of. The text around them that
 * depends only on the type, the server and the change is made once (idParts): eight concatenations per
 * event instead of fourteen. Byte for byte eventIdInput, non-string fields of a rewritten event included
 * (each goes through JSON.stringify, as there).
 */
export function trustedIdInput(cid: string, ct: string, dHash: string, sortedPids: readonly string[], src: string, t: string, ts: string): string {
  const pids = sortedPids.length === 0 ? '[]' : JSON.stringify(sortedPids);
  const parts = idParts(ct, src, t);
  return '{"cid":' + JSON.stringify(cid) + parts.beforeDHash + dHash + '","pids":' + pids + parts.beforeTs + ts + '"}';
}

/** `,"ct":CT,"dHash":"` and `,"src":SRC,"t":T,"ts":"`, for the last type, server and change seen. */
let lastParts = { ct: '', src: '', t: '', beforeDHash: ',"ct":"","dHash":"', beforeTs: ',"src":"","t":"","ts":"' };
function idParts(ct: string, src: string, t: string): typeof lastParts {
  const p = lastParts;
  if (p.ct === ct && p.src === src && p.t === t) return p;
  lastParts = { ct, src, t, beforeDHash: ',"ct":' + jsonOfType(ct) + ',"dHash":"', beforeTs: ',"src":' + jsonOfSrc(src) + ',"t":' + jsonOfChange(t) + ',"ts":"' };
  return lastParts;
}

export function eventId(f: { cid: string; ct: string; dHash: string; pids: readonly string[]; src: string; t: string; ts: string }): string {
  return sha256(eventIdInput(f));
}

export const chainHash = (prevChain: string, id: string) => sha256(prevChain + id);

/**
 * The ISO form used in ids; a createdAt that does not parse is refused before it gets here.
 * The last answer is remembered: a batch's events mostly share one createdAt (a client's frame, or
 * the stamp normalisation gave them), and parsing and formatting a date costs more than a SHA-256.
 */
let lastCreatedAt: string | undefined;
let lastTs = '';
export const isoTs = (createdAt: string): string => {
  if (createdAt !== lastCreatedAt) {
    lastTs = new Date(createdAt).toISOString();
    lastCreatedAt = createdAt;
  }
  return lastTs;
};

/** Recompute an event's identity from its content, given its parents and the chain before it. */
export function computeIdentity(e: Pick<NewEvent, 'itemType' | 'changeType' | 'item' | 'createdAt'>, pids: readonly string[], src: string, prevChain: string): EventIdentity {
  const dHash = eventDataHash(e);
  const ts = isoTs(e.createdAt);
  // Leaves are never changed in place (IdentityTracker replaces them): none or one need no copy.
  const sorted = pids.length === 0 ? [] : pids.length === 1 ? (pids as string[]) : [...pids].sort();
  const _id = sha256(trustedIdInput(e.item.id, e.itemType, dHash, sorted, src, e.changeType, ts));
  return { _id, pids: sorted, src, dHash, ts, chain: sha256(prevChain + _id) };
}

/**
 * The writer's view of the DAG: each item's leaves and this server's chain
 * head. `stage` identifies a batch without changing anything; `commit` makes
 * it current once the batch is durable, so a failed append leaves no trace.
 */
export class IdentityTracker {
  /** Each item's leaf event ids, by (itemType, id). */
  readonly leaves = new ItemMap<string[]>();
  chain = '';

  constructor(readonly src: string) {}

  stage(events: NewEvent[]): { staged: ItemMap<string>; chain: string; events: NewEvent[] } {
    // Each item's last event id in this batch: its next event here names that one alone as parent.
    const staged = new ItemMap<string>();
    let chain = this.chain;
    for (const e of events) {
      if (e.identity) {
        // Imported or replicated: keep its identity, follow it.
        staged.set(e.itemType, e.item.id, e.identity._id);
        if (e.identity.src === this.src) chain = e.identity.chain;
        continue;
      }
      const before = staged.get(e.itemType, e.item.id);
      const pids = before !== undefined ? [before] : (this.leaves.get(e.itemType, e.item.id) ?? []);
      e.identity = computeIdentity(e, pids, this.src, chain);
      chain = e.identity.chain;
      staged.set(e.itemType, e.item.id, e.identity._id);
    }
    return { staged, chain, events };
  }

  /**
   * Ids of events `commit` has followed that the writer has not applied yet. Applying one must not
   * follow it again: re-following an event after a later event of the same item (the same item twice
   * in one group commit; in cluster mode, the tailer reaching our own batch after the next was
   * committed) put it back among the item's leaves, so the item's next event named two parents, and
   * `myko verify` failed on it. (Found by the fault fuzzer; the chain head could also go back.)
   */
  private readonly committed = new Set<string>();

  /**
   * The batch is durable: its events become leaves (merging with any the tailer applied meanwhile).
   * `track`: they will be applied later (cluster mode: by the tailer) and `applied` must not follow
   * them again. Without it the caller applies them itself and says so (Writer.applyStored's `followed`).
   */
  commit(s: { chain: string; events: NewEvent[] }, track = true): void {
    for (const e of s.events) {
      this.follow(e);
      if (track && e.identity) this.committed.add(e.identity._id);
    }
    this.chain = s.chain;
  }

  /** A stored event applied to state (Writer.applyStored): followed, unless `commit` already did. */
  applied(e: NewEvent): void {
    if (e.identity && this.committed.delete(e.identity._id)) return;
    this.follow(e);
  }

  /**
   * Follow a stored event (boot replay, the cluster tailer): it replaces the
   * leaves it names as parents. Concurrent writers on other members can fork
   * an item's history; the next event written here names every leaf and so
   * merges the branches (seed 003).
   */
  follow(e: NewEvent): void {
    if (!e.identity) return;
    const id = e.identity._id;
    const current = this.leaves.get(e.itemType, e.item.id);
    if (current === undefined) this.leaves.set(e.itemType, e.item.id, [id]);
    else if (current.length === 1 && e.identity.pids.length === 1 && current[0] === e.identity.pids[0])
      // A linear history (nearly every event, every one of a boot's replay): the one leaf is this
      // event's one parent. Without the filter and the spread, two arrays and a closure fewer per event.
      this.leaves.set(e.itemType, e.item.id, [id]);
    else if (!current.includes(id)) this.leaves.set(e.itemType, e.item.id, [...current.filter((p) => !e.identity!.pids.includes(p)), id]);
    if (e.identity.src === this.src) this.chain = e.identity.chain;
  }
}
