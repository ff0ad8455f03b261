import type { ChangeType, MItem } from '@myko/protocol';

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
}

export type NewEvent = Omit<StoredEvent, 'position'>;

/** Current state saved at a log position, so boot replays only the tail. */
export interface Checkpoint {
  position: number;
  items: Iterable<{ itemType: string; item: MItem }>;
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
  /** A stable id of this server, created on first start and kept in the store. */
  readonly serverId: string;
  /** Highest position stored, 0 when empty. */
  lastPosition(): Promise<number>;
  append(events: readonly NewEvent[]): Promise<StoredEvent[]>;
  /** Events with position > `after`, in order, at most `limit`. */
  readAfter(after: number, limit: number): Promise<StoredEvent[]>;
  loadCheckpoint(): Promise<Checkpoint>;
  /**
   * Record state at `position`: `upserts` replace items, `deletes` remove them.
   * Incremental: only what changed since the previous checkpoint.
   */
  saveCheckpoint(
    position: number,
    upserts: Iterable<{ itemType: string; item: MItem }>,
    deletes: Iterable<{ itemType: string; id: string }>,
  ): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
