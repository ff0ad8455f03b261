import type { Checkpoint, CheckpointDelta, EventStore, StoreClaims, NewEvent, RawEventRow, StoredEvent } from '../event-store.js';
import { StoreError } from '../event-store.js';
import { openDatabase, type Db, type OpenOptions } from './open.js';
import { makeAppend } from './append.js';
import { makeCountHistory, makeLastPosition, makeReadAfter, makeReadHistory, makeReadRawAfter, makeReadTx } from './read.js';
import { makeCheckpointClaims, makeLoadCheckpoint, makeReadHead, makeSaveCheckpoint } from './checkpoint.js';
import { RowDigests } from './row-digests.js';

/**
 * The embedded store: SQLite in WAL mode through better-sqlite3. Calls are
 * synchronous underneath (better-sqlite3 is the fastest SQLite binding for Node
 * precisely because it avoids a thread hop per statement); the async interface
 * is what the PostgreSQL backend needs too.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';
  readonly serverId: string;
  readonly db: Db;
  private readonly appendSync: (events: readonly NewEvent[]) => StoredEvent[];
  private readonly readSync: ReturnType<typeof makeReadAfter>;
  private readonly historySync: ReturnType<typeof makeReadHistory>;
  private readonly txSync: ReturnType<typeof makeReadTx>;
  private readonly countSync: ReturnType<typeof makeCountHistory>;
  private readonly rawSync: ReturnType<typeof makeReadRawAfter>;
  /** SQLite AUTOINCREMENT never leaves gaps in committed positions: a gap is a missing event. */
  readonly gapless = true;
  private readonly lastSync: () => number;
  private readonly loadSync: () => Checkpoint;
  private readonly saveSync: ReturnType<typeof makeSaveCheckpoint>;

  constructor(opts: OpenOptions) {
    const { db, serverId } = openDatabase(opts);
    this.db = db;
    this.serverId = serverId;
    this.appendSync = makeAppend(db);
    this.readSync = makeReadAfter(db);
    this.historySync = makeReadHistory(db);
    this.txSync = makeReadTx(db);
    this.countSync = makeCountHistory(db);
    this.rawSync = makeReadRawAfter(db);
    this.lastSync = makeLastPosition(db);
    // Shared: the load hashes every snapshot row, each checkpoint then replaces only the hashes of the rows it writes.
    const digests = new RowDigests();
    this.loadSync = makeLoadCheckpoint(db, digests);
    this.saveSync = makeSaveCheckpoint(db, digests);
  }

  async lastPosition(): Promise<number> {
    return this.lastSync();
  }

  async append(events: readonly NewEvent[]): Promise<StoredEvent[]> {
    return this.appendNow(events);
  }

  /** The synchronous form, for the writer's hot path: no promise between commit and broadcast. */
  appendNow(events: readonly NewEvent[]): StoredEvent[] {
    try {
      return this.appendSync(events);
    } catch (err) {
      throw new StoreError(`append failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async readAfter(after: number, limit: number, opts?: { upTo?: number; itemType?: string }): Promise<StoredEvent[]> {
    return this.readSync(after, limit, opts);
  }

  async readRawAfter(after: number, limit: number): Promise<RawEventRow[]> {
    return this.rawSync(after, limit);
  }

  async readHistory(itemType: string, id: string): Promise<StoredEvent[]> {
    return this.historySync(itemType, id);
  }

  async readTx(tx: string): Promise<StoredEvent[]> {
    return this.txSync(tx);
  }

  async countHistory(itemType: string, id: string, upTo?: number): Promise<number> {
    return this.countSync(itemType, id, upTo);
  }

  async loadCheckpoint(): Promise<Checkpoint> {
    return this.loadSync();
  }

  async saveCheckpoint(delta: CheckpointDelta): Promise<void> {
    try {
      this.saveSync(delta);
    } catch (err) {
      throw new StoreError(`checkpoint failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async claims(): Promise<StoreClaims> {
    const head = makeReadHead(this.db)();
    const checkpoint = makeCheckpointClaims(this.db)();
    return { ...(head ? { head } : {}), ...(checkpoint ? { checkpoint } : {}) };
  }

  /**
   * One transaction around `fn`: appends inside it nest as savepoints, reads
   * on this connection see them, and a failure (or a crash) rolls back
   * everything. Nothing else writes meanwhile: the connection holds the data
   * directory's exclusive lock.
   */
  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    if (this.db.inTransaction) throw new StoreError('atomically: a transaction is already open');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = await fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
