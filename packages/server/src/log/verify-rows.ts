import type { RawEventColumns, RawEventRow, StoredEvent } from '../store/event-store.js';
import { chainHash, dataHash, isoTs, sha256, trustedIdInput, type EventIdentity } from '../core/identity.js';

/**
 * The part of `myko verify` that needs only the rows of one batch: parse each
 * stored event once and recompute its data hash, timestamp and id, and its
 * chain link where the event before it of the same server is in the batch.
 * That is nearly all of verify's work (three SHA-256 and a canonical JSON per
 * event), and batches are independent, so log/verify.ts runs it on worker
 * threads (log/verify-worker.ts) while the main thread reads the next rows and
 * does the checks that need the whole log before them (duplicates, parents,
 * leaves, the first chain link of each server in a batch).
 *
 * Columns in, and packed columns out: what crosses between threads is copied,
 * and a few long strings and arrays cost far less to copy than a string or an
 * object per row.
 */
export type RowBatch = RawEventColumns;

/** Each id and data hash that passed is a SHA-256 in hex (it equals one recomputed), so they pack at this width. */
export const hexWidth = 64;

export interface CheckedBatch {
  /** Rows 0..ok-1 passed every check here. */
  ok: number;
  /** Why row `ok` did not (absent when every row passed). */
  failure?: { eventId?: string | undefined; reason: string };
  /** Per row that passed, its identity's _id and dHash, hexWidth characters each, one after another. */
  ids: string;
  dHashes: string;
  /** Its src, as runs: row srcStarts[k] and those after it (until the next start) have srcNames[k]. */
  srcStarts: number[];
  srcNames: string[];
  /**
   * Per row, its number of parents; the parents themselves one after another in `pids`, each hexWidth
   * characters long unless `pidLengths` is given (then one length per parent: a parent that is not an
   * id verify accepts is still reported as it is written; negative, -1 - length, for one that is not a
   * string at all).
   */
  pidCounts: Uint32Array;
  pids: string;
  pidLengths: number[];
  /**
   * Per row, its chain link: 1 checked here against the batch's earlier event of the same server,
   * 0 broken, 2 not checked (the first of its server in the batch; its stored chain is in `firstChains`).
   */
  chainLinks: Uint8Array;
  firstChains: string[];
  /** Each server's last stored chain in the batch (the chain head once the batch passed). */
  lastChains: [string, string][];
}

/**
 * A batch's rows as verify's main thread walks them, without their texts: its item types as runs (as
 * srcs above), and which rows are DELs. Typed arrays and few strings: a worker's answer is copied.
 */
export interface WalkRows {
  positions: Float64Array;
  typeStarts: number[];
  typeNames: string[];
  itemIds: string[];
  dels: Uint8Array;
}

export function walkRows(b: RowBatch): WalkRows {
  const n = b.positions.length;
  const rows: WalkRows = { positions: Float64Array.from(b.positions), typeStarts: [], typeNames: [], itemIds: b.itemIds, dels: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const t = b.itemTypes[i]!;
    if (i === 0 || t !== rows.typeNames[rows.typeNames.length - 1]) {
      rows.typeStarts.push(i);
      rows.typeNames.push(t);
    }
    if (b.changeTypes[i] === 'DEL') rows.dels[i] = 1;
  }
  return rows;
}

/** The buffers of a walk and its check, moved rather than copied when a worker answers. */
export function transferables(rows: WalkRows, c: CheckedBatch): ArrayBuffer[] {
  return [rows.positions.buffer as ArrayBuffer, rows.dels.buffer as ArrayBuffer, c.pidCounts.buffer as ArrayBuffer, c.chainLinks.buffer as ArrayBuffer];
}

export function toBatch(rows: readonly RawEventRow[]): RowBatch {
  const n = rows.length;
  const b: RowBatch = { positions: new Array(n), itemTypes: new Array(n), itemIds: new Array(n), changeTypes: new Array(n), events: new Array(n) };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    b.positions[i] = r.position;
    b.itemTypes[i] = r.itemType;
    b.itemIds[i] = r.itemId;
    b.changeTypes[i] = r.changeType;
    b.events[i] = r.event;
  }
  return b;
}

export function checkBatch(b: RowBatch): CheckedBatch {
  const ids: string[] = [];
  const dHashes: string[] = [];
  const pids: string[] = [];
  const n = b.events.length;
  const out: CheckedBatch = {
    ok: 0,
    ids: '',
    dHashes: '',
    srcStarts: [],
    srcNames: [],
    pidCounts: new Uint32Array(n),
    pids: '',
    pidLengths: [],
    chainLinks: new Uint8Array(n),
    firstChains: [],
    lastChains: [],
  };
  let oddPid = false;
  const lengths: number[] = [];
  const heads = new Map<string, string>();
  let src: string | undefined;
  for (let i = 0; i < n; i++) {
    let e: StoredEvent;
    try {
      e = JSON.parse(b.events[i]!) as StoredEvent;
    } catch (err) {
      out.failure = { reason: `stored event is not valid JSON: ${(err as Error).message}` };
      break;
    }
    const problem = checkRow(e, b.itemTypes[i]!, b.itemIds[i]!, b.changeTypes[i]!);
    if (problem) {
      out.failure = { eventId: e.identity?._id, reason: problem };
      break;
    }
    const id = e.identity!;
    ids.push(id._id);
    dHashes.push(id.dHash);
    if (i === 0 || id.src !== src) {
      src = id.src;
      out.srcStarts.push(i);
      out.srcNames.push(src);
    }
    out.pidCounts[i] = id.pids.length;
    for (const p of id.pids as unknown[]) {
      // A parent that is not a string (one in a rewritten event with its _id recomputed) is never an id
      // seen nor a leaf: it goes as its text, its length negative (-1 - length) to say so.
      const text = typeof p === 'string' ? p : String(p);
      pids.push(text);
      lengths.push(typeof p === 'string' ? text.length : -1 - text.length);
      if (text.length !== hexWidth || typeof p !== 'string') oddPid = true;
    }
    const head = heads.get(id.src);
    if (head === undefined) {
      out.chainLinks[i] = 2;
      out.firstChains.push(id.chain);
    } else out.chainLinks[i] = chainHash(head, id._id) === id.chain ? 1 : 0;
    heads.set(id.src, id.chain);
    out.ok++;
  }
  out.ids = ids.join('');
  out.dHashes = dHashes.join('');
  out.pids = pids.join('');
  if (oddPid) out.pidLengths = lengths;
  out.lastChains = [...heads];
  return out;
}

/** Verify's checks of one event on its own, in its order (log/verify.ts does the rest). */
function checkRow(e: StoredEvent, itemType: string, itemId: string, changeType: string): string | undefined {
  const id: EventIdentity | undefined = e.identity;
  if (!id || typeof id._id !== 'string' || !Array.isArray(id.pids)) return 'event has no identity (_id, pids, dHash, ts, src, chain)';
  if (!e.item || typeof e.item.id !== 'string') return 'event has no item id';
  if (itemType !== e.itemType || itemId !== e.item.id || changeType !== e.changeType)
    return `indexed columns (${itemType}/${itemId} ${changeType}) do not match the stored event (${e.itemType}/${e.item.id} ${e.changeType})`;
  if (dataHash(e.item) !== id.dHash) return 'item data does not match its dHash: the data was changed after it was written';
  if (!(e.createdAt === id.ts && isCanonicalIso(e.createdAt)) && (Number.isNaN(Date.parse(e.createdAt)) || isoTs(e.createdAt) !== id.ts))
    return `createdAt ${e.createdAt} does not match ts ${id.ts}`;
  const pids = id.pids.length < 2 ? id.pids : [...id.pids].sort();
  const recomputed = sha256(trustedIdInput(e.item.id, e.itemType, id.dHash, pids, id.src, e.changeType, id.ts));
  if (recomputed !== id._id) return `_id does not match the event's content (recomputed ${recomputed})`;
  return undefined;
}

const zero = 48;
const digitsAt = (s: string, from: number, to: number): number => {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - zero;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
};
const daysIn = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;

/**
 * `YYYY-MM-DDTHH:mm:ss.sssZ` naming a real instant (year 0000-9999, each field in range, no leap
 * second): exactly the strings `new Date(s).toISOString()` gives back unchanged. A createdAt that is one
 * and equals ts passes the ts check without a Date parsed and formatted (a quarter of verify's time
 * besides the hashes); any other goes the full way.
 */
export function isCanonicalIso(s: unknown): boolean {
  if (typeof s !== 'string' || s.length !== 24) return false;
  if (s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[19] !== '.' || s[23] !== 'Z') return false;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 7);
  const day = digitsAt(s, 8, 10);
  const hour = digitsAt(s, 11, 13);
  const minute = digitsAt(s, 14, 16);
  const second = digitsAt(s, 17, 19);
  if (year < 0 || digitsAt(s, 20, 23) < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month);
}
