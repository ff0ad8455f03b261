import type { MItem } from '@myko/protocol';
import { createHash } from 'node:crypto';
import type { Db } from './open.js';
import { LOG_HEAD_ROW } from './append.js';
import type { Checkpoint, CheckpointDelta, DerivedFields, StoreClaims } from '../event-store.js';
import { ItemMap } from '../../core/item-map.js';

/**
 * The snapshot a checkpoint saves, as segments: each checkpoint appends the entries it changed
 * (`[itemType, id, item, pids]`, `item` null for a deleted item, which keeps its leaves) as one or a
 * few rows of `myko_snapshot`, each a JSON array. Loading reads the segments in order; an item's
 * last entry is its state. A checkpoint with `replace` (boot discarded the snapshot, or the
 * checkpointer compacts one whose entries are mostly superseded) deletes every segment first.
 *
 * Why segments rather than a row per item (the layout before migration 5): a row per item cost a
 * B-tree insert and a SHA-256 for every item a checkpoint wrote, on the store thread, and where every
 * event creates an item (a bulk import) that was a third of the CPU of durable ingest (bench/RESULTS.md,
 * issue 15, sixth part). A segment is one insert of text already encoded on the writer's thread.
 *
 * The digest: a 256-bit XOR of one SHA-256 per segment, over its text as stored, saved with the
 * checkpoint. Segments are never rewritten, so a checkpoint XORs in the hashes of the segments it adds
 * to the saved digest, and hashes nothing else. It detects a changed, added or removed segment (a
 * damaged disk, a hand edit); it is not a signature, since whoever can edit the rows can also rewrite
 * the digest. Boot uses a checkpoint only when its segments match it.
 */
const DIGEST_BYTES = 32;
/** A segment's text is about this many characters (a V8 string cannot hold the largest states whole): encodeDelta. */
const SEGMENT_CHARS = 8 * 1024 * 1024;

/** A segment's hash, as saved beside it and XORed into the digest. */
export const segmentHash = (body: string): Buffer => createHash('sha256').update(body).digest();
const xorInto = (acc: Buffer, h: Buffer) => {
  for (let i = 0; i < DIGEST_BYTES; i++) acc[i]! ^= h[i]!;
};

/** An entry of a segment: an item's state and leaves as the checkpoint saved them; `item` null: deleted. */
type Entry = [itemType: string, id: string, item: MItem | null, pids: string[]];

type SegmentRow = { seq: number; hash: string; body: string };
const SEGMENTS = `SELECT seq, hash, body FROM myko_snapshot ORDER BY seq`;

/**
 * The digest the segments give (one pass over their text, no JSON parsing), and what is wrong with a
 * segment whose saved hash is not its text's: that hash is what a compaction XORs out when it drops it.
 */
function digestOf(rows: Iterable<SegmentRow>): { digest: string; badHash: string | undefined } {
  const acc = Buffer.alloc(DIGEST_BYTES);
  let badHash: string | undefined;
  for (const r of rows) {
    const h = segmentHash(r.body);
    xorInto(acc, h);
    if (r.hash !== h.toString('hex')) badHash ??= `snapshot segment ${r.seq}: its saved hash does not match its text`;
  }
  return { digest: acc.toString('hex'), badHash };
}

/** Why the segments cannot be trusted against the digest saved with the checkpoint; undefined when they can. */
function segmentsProblem(rows: Iterable<SegmentRow>, position: number, saved: string | undefined): string | undefined {
  const { digest, badHash } = digestOf(rows);
  if (position === 0 && saved === undefined && digest === '0'.repeat(2 * DIGEST_BYTES)) return undefined; // nothing saved yet
  return digestProblem(position, saved, digest) ?? badHash;
}

/** The digest of the snapshot segments as they are now. */
export function makeSnapshotDigest(db: Db): () => string {
  const segments = db.prepare(SEGMENTS);
  return () => digestOf(segments.iterate() as Iterable<SegmentRow>).digest;
}

function makeMeta(db: Db): (key: string) => string | undefined {
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = ?`).pluck();
  return (key) => meta.get(key) as string | undefined;
}

/**
 * The checkpoint's own claims (position, event id) and whether its segments still match the digest
 * saved with them.
 */
export function makeCheckpointClaims(db: Db): (digest?: boolean) => NonNullable<StoreClaims['checkpoint']> | undefined {
  const get = makeMeta(db);
  const segments = db.prepare(SEGMENTS);
  return (digest = true) => {
    const position = Number(get('checkpoint_position') ?? 0);
    const saved = get('checkpoint_digest');
    if (position === 0 && saved === undefined) return undefined;
    const eventId = get('checkpoint_event_id') || null;
    const derived = derivedOf(get('checkpoint_derived'));
    if (!digest) return { position, eventId, ...derived };
    const problem = segmentsProblem(segments.iterate() as Iterable<SegmentRow>, position, saved);
    return { position, eventId, ...derived, ...(problem ? { problem } : {}) };
  };
}

/**
 * The saved checkpoint. Its segments are hashed first: when they do not match the digest, nothing
 * of them is parsed (a damaged segment need not even be JSON) and `problem` says why.
 */
export function makeLoadCheckpoint(db: Db): () => Checkpoint {
  const get = makeMeta(db);
  const segments = db.prepare(SEGMENTS);
  return () => {
    const position = Number(get('checkpoint_position') ?? 0);
    const head = { position, eventId: get('checkpoint_event_id') ?? null, chain: get('checkpoint_chain') ?? '' };
    const rows = segments.all() as SegmentRow[];
    const problem = segmentsProblem(rows, position, get('checkpoint_digest'));
    if (problem) return { ...head, items: [], leaves: [], problem };
    const latest = new ItemMap<Entry>();
    let entries = 0;
    for (const r of rows) {
      const list = JSON.parse(r.body) as unknown;
      if (!Array.isArray(list)) throw new Error(`snapshot segment ${r.seq}: not a JSON array`);
      for (const e of list as unknown[]) {
        if (!isEntry(e)) throw new Error(`snapshot segment ${r.seq}: malformed entry ${JSON.stringify(e).slice(0, 200)}`);
        latest.set(e[0], e[1], e);
        entries++;
      }
    }
    const items: { itemType: string; item: MItem }[] = [];
    const leaves: { itemType: string; id: string; pids: string[] }[] = [];
    latest.forEach((itemType, id, e) => {
      if (e[2] !== null) items.push({ itemType, item: e[2] });
      leaves.push({ itemType, id, pids: e[3] });
    });
    return { ...head, items, leaves, entries, ...derivedOf(get('checkpoint_derived')) };
  };
}

function isEntry(e: unknown): e is Entry {
  if (!Array.isArray(e) || e.length !== 4) return false;
  const [itemType, id, item, pids] = e as unknown[];
  return (
    typeof itemType === 'string' &&
    typeof id === 'string' &&
    (item === null || (typeof item === 'object' && !Array.isArray(item) && (item as { id?: unknown }).id === id)) &&
    Array.isArray(pids) &&
    pids.every((p) => typeof p === 'string')
  );
}

/** The `checkpoint_derived` meta value as a spread: `{ derived }` when one was recorded (and is not ''). */
const derivedOf = (v: string | undefined): { derived?: DerivedFields } => (v ? { derived: JSON.parse(v) as DerivedFields } : {});

const digestProblem = (position: number, saved: string | undefined, now: string): string | undefined =>
  saved === now
    ? undefined
    : saved === undefined
      ? `snapshot segments (myko_snapshot) are there but no digest was saved with the checkpoint at position ${position}`
      : `snapshot segments (myko_snapshot) do not match the digest saved with the checkpoint at position ${position} (saved ${saved}, segments give ${now}): a segment was changed, added or removed`;

/**
 * A checkpoint delta as the text it is stored as, built where the items live (the writer's thread), so
 * only strings cross to the store thread (thread.ts).
 */
export interface EncodedDelta {
  replace: boolean;
  position: number;
  eventId: string | null;
  chain: string;
  /** The new segments: each one's text (a JSON array of entries) and how many entries it holds. */
  segments: { body: string; entries: number }[];
  /** How many entries they hold. */
  entries: number;
  /** DerivedFields as JSON; '' when the server declares none. */
  derived: string;
  /** CheckpointDelta.dropBefore. */
  dropBefore: number | undefined;
}

/**
 * The delta's entries as segments, each one JSON.stringify of a run of entries: the same text as the
 * entries stringified one by one and joined, made in one call per segment. One call per entry cost
 * about twice as much per entry (the call, a text per entry, and their join), and a checkpoint
 * serialises every item changed since the last one: in bulk ingest, every event's item a second time.
 */
export function encodeDelta(d: CheckpointDelta): EncodedDelta {
  const all: Entry[] = [];
  for (const u of d.upserts) all.push([u.itemType, u.item.id, u.item, u.pids]);
  for (const x of d.deletes) all.push([x.itemType, x.id, null, x.pids]);
  const segments = inRuns(all, (run) => JSON.stringify(run), SEGMENT_CHARS);
  const derived = d.derived && Object.keys(d.derived).length > 0 ? JSON.stringify(d.derived) : '';
  return { replace: d.replace === true, position: d.position, eventId: d.eventId, chain: d.chain, segments, entries: all.length, derived, dropBefore: d.dropBefore };
}

/**
 * `all` encoded in runs, in order, of about `targetChars` each: the first run sized from the first
 * entry's text (at most `firstRun` entries), each later one from the average entry so far. A run whose
 * text cannot be made (RangeError: longer than V8's longest string) is made again as a quarter as many
 * entries; a single entry that cannot be made throws.
 */
export function inRuns<T>(all: T[], encode: (run: T[]) => string, targetChars: number, firstRun = 16_384): { body: string; entries: number }[] {
  const out: { body: string; entries: number }[] = [];
  if (all.length === 0) return out;
  // A state of large items must not start with a run that builds hundreds of megabytes before V8 refuses it.
  let per = Math.max(1, Math.min(firstRun, Math.floor(targetChars / Math.max(1, encode(all.slice(0, 1)).length))));
  let chars = 0;
  for (let from = 0; from < all.length; ) {
    const to = Math.min(all.length, from + per);
    let body: string;
    try {
      body = encode(from === 0 && to === all.length ? all : all.slice(from, to));
    } catch (err) {
      if (!(err instanceof RangeError) || to - from === 1) throw err;
      per = Math.max(1, (to - from) >> 2);
      continue;
    }
    out.push({ body, entries: to - from });
    chars += body.length;
    from = to;
    per = Math.max(1, Math.floor(targetChars / (chars / from)));
  }
  return out;
}

/** Incremental: the new segments, the new position and the new digest in one transaction, so a checkpoint is never half-written. */
export type SaveCheckpoint = (delta: EncodedDelta) => number;

export function makeSaveCheckpoint(db: Db): SaveCheckpoint {
  const get = makeMeta(db);
  const insert = db.prepare(`INSERT INTO myko_snapshot (position, entries, hash, body) VALUES (?, ?, ?, ?)`);
  const clear = db.prepare(`DELETE FROM myko_snapshot`);
  const hashesBefore = db.prepare(`SELECT hash FROM myko_snapshot WHERE position < ?`).pluck();
  const dropBefore = db.prepare(`DELETE FROM myko_snapshot WHERE position < ?`);
  const count = db.prepare(`SELECT coalesce(sum(entries), 0) FROM myko_snapshot`).pluck();
  const setMeta = db.prepare(
    `INSERT INTO myko_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  );
  return db.transaction((d: EncodedDelta) => {
    if (d.replace) clear.run();
    // Built on the digest as saved, not on one kept in memory: a segment changed behind the store stays
    // seen (its hash is in neither), and a checkpoint rolled back by an outer transaction leaves nothing to undo.
    const saved = d.replace ? undefined : get('checkpoint_digest');
    // A saved value that is no digest at all (a hand edit) is carried as a hash of itself: it never matches.
    const acc = saved === undefined ? Buffer.alloc(DIGEST_BYTES) : /^[0-9a-f]{64}$/.test(saved) ? Buffer.from(saved, 'hex') : segmentHash(`not a digest: ${saved}`);
    if (d.dropBefore !== undefined) {
      // Their hashes as saved beside them: the segments are not read back.
      for (const h of hashesBefore.iterate(d.dropBefore) as Iterable<string>) if (/^[0-9a-f]{64}$/.test(h)) xorInto(acc, Buffer.from(h, 'hex'));
      dropBefore.run(d.dropBefore);
    }
    for (const s of d.segments) {
      const h = segmentHash(s.body);
      insert.run(d.position, s.entries, h.toString('hex'), s.body);
      xorInto(acc, h);
    }
    setMeta.run('checkpoint_position', String(d.position));
    setMeta.run('checkpoint_event_id', d.eventId ?? '');
    setMeta.run('checkpoint_chain', d.chain);
    setMeta.run('checkpoint_digest', acc.toString('hex'));
    setMeta.run('checkpoint_derived', d.derived);
    return count.get() as number;
  });
}

/**
 * The head recorded by append (append.ts), if any: a store written before it was recorded has none.
 * Servers before migration 6 kept it in `myko_meta` ('log_head'), and one of them may have written this
 * directory since it was migrated (a downgrade): of the two, the one further along is the head.
 */
export function makeReadHead(db: Db): () => StoreClaims['head'] {
  const row = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = '${LOG_HEAD_ROW}'`).pluck();
  const meta = db.prepare(`SELECT value FROM myko_meta WHERE key = 'log_head'`).pluck();
  const parse = (v: unknown): StoreClaims['head'] => {
    if (typeof v !== 'string' || v === '') return undefined;
    const [position, eventId] = v.split(' ');
    return { position: Number(position), eventId: eventId ?? '' };
  };
  return () => {
    const now = parse(row.get());
    const legacy = parse(meta.get());
    return now && legacy ? (legacy.position > now.position ? legacy : now) : (now ?? legacy);
  };
}
