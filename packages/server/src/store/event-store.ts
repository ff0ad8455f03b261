import type { ChangeType, MItem } from '@myko/protocol';
import type { EventIdentity } from '../core/identity.js';

/** An event as it is stored: normalised, with its place in the log. */
export interface StoredEvent {
  /** Position in the log, 1-based, assigned by the store at append; strictly increasing. */
  position: number;
  itemType: string;
  changeType: ChangeType;
  item: MItem;
  /** ISO 8601. */
  createdAt: string;
  tx: string;
  /** Who produced it: the sender's `sourceId`, else this server's id. */
  sourceId: string;
  /** The connection that sent it, when a client did. */
  clientId?: string;
  /** Content address and links (core/identity.ts); set by the writer before append. */
  identity?: EventIdentity;
}

export type NewEvent = Omit<StoredEvent, 'position'>;

/** Current state saved at a log position, so boot replays only the tail. */
export interface Checkpoint {
  position: number;
  /** `_id` of the event at `position`: boot checks the log still holds it there. */
  eventId: string | null;
  /** The server's chain head at `position`. */
  chain: string;
  /** `clientId`: the connection that wrote the item's latest event, where the store knows it (ownership, security/ownership.ts). */
  items: Iterable<{ itemType: string; item: MItem; clientId?: string }>;
  /** Each item's leaf event ids (deleted items too: a later SET links to its DEL). */
  leaves: Iterable<{ itemType: string; id: string; pids: string[] }>;
  /**
   * Set when the saved state does not match the digest saved with it (a
   * changed, added or removed snapshot segment): the checkpoint must not be used.
   */
  problem?: string;
  /** The reverse-reference fields its items hold as state had them, as recorded with it (stores that save checkpoints: SQLite). */
  derived?: DerivedFields;
  /**
   * Entries the saved snapshot holds, superseded ones included, where each checkpoint adds its changes
   * to the last (SQLite's segments): the checkpointer rewrites the snapshot whole once most are superseded.
   */
  entries?: number;
}

/** What a store recorded about its own log and snapshot, for `myko verify` to hold the log against. */
export interface StoreClaims {
  /** The last append, recorded in the same transaction as its events: a log that ends earlier lost its tail. */
  head?: { position: number; eventId: string };
  /** The saved checkpoint, when there is one; `problem` as in Checkpoint. */
  checkpoint?: { position: number; eventId: string | null; problem?: string; derived?: DerivedFields };
}

/**
 * Item type → its fields that state fills from reverse references (core/backrefs.ts): a snapshot entry holds
 * them as state has them, not as the item's last SET sent them. Saved with each checkpoint so `myko
 * verify` knows which fields of a snapshot item may differ from the log, without the server's plugins.
 */
export type DerivedFields = Record<string, string[]>;

/** What changed since the previous checkpoint; `pids` are each item's leaf event ids. */
export interface CheckpointDelta {
  /**
   * The saved snapshot is not to be built on (boot discarded it): clear it and
   * save only this delta, which then holds every item the log has touched.
   */
  replace?: boolean;
  position: number;
  eventId: string | null;
  chain: string;
  upserts: Iterable<{ itemType: string; item: MItem; pids: string[] }>;
  /** Deleted items keep their leaves: a later SET of the same id links to its DEL. */
  deletes: Iterable<{ itemType: string; id: string; pids: string[] }>;
  /** The reverse-reference fields the upserted items hold as state has them (DerivedFields). */
  derived?: DerivedFields;
  /**
   * Every entry saved with a checkpoint at a position below this one is superseded by this checkpoint
   * and those since (a compaction has rewritten every item): a store that keeps them may drop them.
   */
  dropBefore?: number;
}

/**
 * The durable log. One interface for every backend (SQLite embedded,
 * PostgreSQL in cluster mode); the conformance suite runs against each.
 *
 * Guarantees every backend gives:
 * - `append` is atomic: every event of the call is stored, or none is.
 * - When `append` resolves, the events are durable (survive kill -9).
 * - Positions are strictly increasing in append order.
 */
export interface EventStore {
  readonly kind: string;
  /** True when committed positions never skip a number, so a gap means a missing event. */
  readonly gapless: boolean;
  /** A stable id of this server, created on first start and kept in the store. */
  readonly serverId: string;
  /**
   * True when writes are carried out in the order they are called, whether or not the caller waits
   * for the previous one (one connection working through a queue): a checkpoint then need not be
   * awaited before the next append (core/checkpointer.ts).
   */
  readonly ordersWrites?: boolean;
  /** Highest position stored, 0 when empty. */
  lastPosition(): Promise<number>;
  append(events: readonly NewEvent[]): Promise<StoredEvent[]>;
  /** Events with `after` < position (≤ `upTo` when given), in order, at most `limit`, optionally of one item type. */
  readAfter(after: number, limit: number, opts?: { upTo?: number; itemType?: string }): Promise<StoredEvent[]>;
  /**
   * Every event after `after`, in order, in chunks of at most `chunk`: a boot's replay. Stores that can
   * read ahead while the caller reduces (SQLite) give it; `replayAfter` pages through `readAfter` otherwise.
   */
  replay?(after: number, chunk: number): AsyncIterable<StoredEvent[]>;
  /**
   * Rows as stored, unparsed, for the verifier: a damaged row must be
   * reported with its position, not fail the read.
   */
  readRawAfter(after: number, limit: number): Promise<RawEventRow[]>;
  /** The same rows as columns, read without an object per row (SQLite): what the verifier hands its workers. */
  readRawColumnsAfter?(after: number, limit: number): Promise<RawEventColumns>;
  /**
   * A SQLite file that other threads may open read-only and read the log from, the store holding every
   * writer out meanwhile (SQLite opened with `lock: 'write'`): the verifier's workers then read their
   * own rows. Undefined when they may not.
   */
  readableFile?(): string | undefined;
  /** Every event of one item, in order. */
  readHistory(itemType: string, id: string): Promise<StoredEvent[]>;
  /** Every event of one transaction (`tx`), in order, from an index on tx (log/undo.ts scans the log without it). */
  readTx?(tx: string): Promise<StoredEvent[]>;
  /**
   * How many events of one item are stored (with position ≤ `upTo` when
   * given): EventRPC's aggregate version. Counted on the (item_type, item_id)
   * index without reading the events, so it costs one index range scan.
   */
  countHistory(itemType: string, id: string, upTo?: number): Promise<number>;
  loadCheckpoint(): Promise<Checkpoint>;
  /**
   * Incremental: only what changed since the previous checkpoint, in one transaction. Resolves with the
   * entries the snapshot then holds (Checkpoint.entries), where the store counts them.
   */
  saveCheckpoint(delta: CheckpointDelta): Promise<number | undefined>;
  /** The head and checkpoint this store recorded (stores that record them: SQLite). */
  /**
   * `digest: false` leaves the checkpoint's `problem` out, and the pass over the snapshot's segments it takes:
   * for a caller that loads the checkpoint anyway (loadCheckpoint finds the same problem).
   */
  claims?(opts?: { digest?: boolean }): Promise<StoreClaims>;
  /**
   * Run `fn` so that what it appends is kept only if it resolves (`myko
   * import`): a failure or a crash part-way leaves the store as it was.
   */
  atomically?<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Every event after `after`, in order, in chunks of at most `chunk` (EventStore.replay). */
export function replayAfter(store: EventStore, after: number, chunk: number): AsyncIterable<StoredEvent[]> {
  return store.replay ? store.replay(after, chunk) : pagesAfter((a, n) => store.readAfter(a, n), after, chunk);
}

/** `readAfter`'s pages from `after` to the end of the log. */
export async function* pagesAfter(readAfter: (after: number, limit: number) => Promise<StoredEvent[]>, after: number, chunk: number): AsyncGenerator<StoredEvent[]> {
  for (;;) {
    const events = await readAfter(after, chunk);
    if (events.length > 0) {
      yield events;
      after = events[events.length - 1]!.position;
    }
    if (events.length < chunk) return;
  }
}

export interface RawEventRow {
  position: number;
  itemType: string;
  itemId: string;
  changeType: string;
  /** The stored event as JSON text. */
  event: string;
}

/** Rows as stored, one array per column (readRawColumnsAfter). */
export interface RawEventColumns {
  positions: number[];
  itemTypes: string[];
  itemIds: string[];
  changeTypes: string[];
  events: string[];
}

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
