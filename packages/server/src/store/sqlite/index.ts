import type { Checkpoint, CheckpointDelta, EventStore, StoreClaims, NewEvent, RawEventColumns, RawEventRow, StoredEvent } from '../event-store.js';
import { StoreError, pagesAfter } from '../event-store.js';
import { join } from 'node:path';
import { openDatabase, type Db, type OpenOptions } from './open.js';
import { appendArgs, assignPositions } from './append.js';
import { toEvent } from './read.js';
import { encodeDelta } from './checkpoint.js';
import { makeStoreOps, type SqlMode, type StoreOps } from './ops.js';
import { StoreThread } from './thread.js';
import { WRITE_SLOT_BYTES, WriteSlot } from './write-slot.js';
import { readAhead } from './read-ahead.js';

/**
 * A replay of more events than this reads ahead on a thread of its own (read-ahead.ts); a shorter one
 * (a boot after a checkpoint) reads here, where starting a thread would cost more than it saves.
 */
export const READ_AHEAD_MIN_EVENTS = 50_000;

/**
 * Appends of at most this many events are made on the caller's thread when the store thread is idle
 * (see SqliteEventStore). A round trip to a thread that has slept costs 30-120 µs at p50 on these
 * virtual machines (both threads are woken), more than inserting a few rows; this bound keeps the
 * event loop's own commit short (~0.1 ms of inserts besides the fsync), and a group commit under
 * load (hundreds of events) always goes to the thread.
 */
export const CALLER_APPEND_MAX_EVENTS = 16;

/**
 * The embedded store: SQLite in WAL mode through better-sqlite3.
 *
 * Two ways to run it, same statements (ops.ts), same files:
 * - On the caller's thread (the CLI's log commands, tests, and the server while it boots): every call
 *   runs synchronously underneath, which is fastest for one-off reads and the boot's replay.
 * - With a store thread (`useThread`, what the server does once booted): the thread opens a second
 *   connection, and every call goes there, so the inserts, the checkpoint's segments and each commit's
 *   fsync run on the second core while the event loop decodes, reduces and fans out. Events are
 *   encoded here and cross as strings; rows come back as text and are parsed here. One exception:
 *   a small append (≤ CALLER_APPEND_MAX_EVENTS) while the thread has nothing in hand is made here,
 *   synchronously, on this thread's connection. A single SET then costs what it costs without the
 *   thread (0.07-0.11 ms less at p50 here: the thread's two wake-ups), and calls still run in call order:
 *   nothing is in flight on the thread when this connection writes.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';
  readonly serverId: string;
  /** SQLite AUTOINCREMENT never leaves gaps in committed positions: a gap is a missing event. */
  readonly gapless = true;
  /** One connection: on this thread each call completes before it returns; the store thread answers in the order sent. */
  readonly ordersWrites = true;
  private readonly local: Db;
  private readonly ops: StoreOps;
  /** The data directory's lock (open.ts), closed last. */
  private readonly guard: Db | undefined;
  private readonly stopLocalWalCheckpoints: () => void;
  /** With a store thread: rows this thread's connection has written, which the thread's WAL checkpoints count. */
  private callerChanges: BigInt64Array | undefined;
  /** With a store thread: taken around an append on this thread, so that none runs during the thread's WAL checkpoint (write-slot.ts). */
  private writeSlot: WriteSlot | undefined;
  /** Appends made on this thread while the store thread was idle (tests, and what the bench reports). */
  appendsHere = 0;
  /** Set by useThread: from then on every call goes to the thread. */
  private thread: Promise<StoreThread> | undefined;
  /** The thread once started: calls are sent at once, in call order (no promise turn in between). */
  private started: StoreThread | undefined;

  constructor(private readonly opts: OpenOptions) {
    const { db, serverId, guard, stopWalCheckpoints } = openDatabase(opts);
    this.local = db;
    this.serverId = serverId;
    this.guard = guard;
    this.stopLocalWalCheckpoints = stopWalCheckpoints;
    this.ops = makeStoreOps(db);
  }

  /** The connection, while it is on this thread (tests and CLI tools read tables directly). */
  get db(): Db {
    if (this.thread) throw new StoreError('the store runs on its own thread: use its async methods');
    return this.local;
  }

  /**
   * Start the store thread. Call it between writes (nothing in flight): the thread opens a second
   * connection under this one's lock of the data directory and runs the WAL checkpoints from then on.
   * Calls made meanwhile wait for the thread.
   */
  async useThread(): Promise<void> {
    if (this.thread) return this.thread.then(() => undefined);
    if (this.local.inTransaction) throw new StoreError('useThread: a transaction is open');
    if (this.opts.lock === 'write') throw new StoreError('useThread: a store opened to read only has no thread');
    this.stopLocalWalCheckpoints();
    const shared = new SharedArrayBuffer(8);
    this.callerChanges = new BigInt64Array(shared);
    const slot = new SharedArrayBuffer(WRITE_SLOT_BYTES);
    this.writeSlot = new WriteSlot(slot);
    this.thread = StoreThread.start({ ...this.opts, lock: 'shared' }, shared, slot);
    this.started = await this.thread;
  }

  /**
   * Give the WAL its full size before the store serves writes (wal-prealloc.ts): the commits of a freshly
   * started server then overwrite WAL bytes already on disk instead of growing the file. Returns the
   * bytes written.
   */
  async preallocateWal(): Promise<number> {
    return this.run('preallocateWal');
  }

  private run<K extends keyof StoreOps>(op: K, ...args: Parameters<StoreOps[K]>): ReturnType<StoreOps[K]> | Promise<ReturnType<StoreOps[K]>> {
    if (this.started) return this.started.call(op, ...args);
    if (this.thread) return this.thread.then((t) => t.call(op, ...args));
    return (this.ops[op] as (...a: unknown[]) => ReturnType<StoreOps[K]>)(...args);
  }

  async lastPosition(): Promise<number> {
    return this.run('lastPosition');
  }

  async append(events: readonly NewEvent[]): Promise<StoredEvent[]> {
    try {
      if (events.length <= CALLER_APPEND_MAX_EVENTS && this.started?.idle && this.writeSlot!.tryTakeForAppend()) {
        try {
          return this.appendHereWhileThreadIdle(events);
        } finally {
          this.writeSlot!.releaseAppend();
        }
      }
      return assignPositions(events, await this.run('append', ...appendArgs(events)));
    } catch (err) {
      throw new StoreError(`append failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** See CALLER_APPEND_MAX_EVENTS. Throws as the thread's append would (the caller wraps it). */
  private appendHereWhileThreadIdle(events: readonly NewEvent[]): StoredEvent[] {
    const positions = this.ops.append(...appendArgs(events));
    // What total_changes() counts for it: each row, and the log head's update (none for an empty batch).
    if (positions.length > 0) Atomics.add(this.callerChanges!, 0, BigInt(positions.length + 1));
    this.appendsHere++;
    return assignPositions(events, positions);
  }

  /** Append synchronously, on this thread only (tests that hold the window between append and apply). */
  appendNow(events: readonly NewEvent[]): StoredEvent[] {
    if (this.thread) throw new StoreError('appendNow: the store runs on its own thread');
    return assignPositions(events, this.ops.append(...appendArgs(events)));
  }

  async readAfter(after: number, limit: number, opts?: { upTo?: number; itemType?: string }): Promise<StoredEvent[]> {
    return (await this.run('readAfter', after, limit, opts)).map(toEvent);
  }

  /**
   * EventStore.replay. Before the store thread starts (a boot): a long tail is read ahead on a thread of
   * its own while the caller reduces; a short one is read here. Afterwards, through the store thread.
   */
  replay(after: number, chunk: number): AsyncIterable<StoredEvent[]> {
    const here = (from: number) => pagesAfter((a, n) => this.readAfter(a, n), from, chunk);
    if (!this.thread) {
      const upTo = this.ops.lastPosition();
      if (upTo - after > READ_AHEAD_MIN_EVENTS) return readAhead(join(this.opts.dataDir, 'myko.db'), after, upTo, chunk, here);
    }
    return here(after);
  }

  async readRawAfter(after: number, limit: number): Promise<RawEventRow[]> {
    return this.run('readRawAfter', after, limit);
  }

  async readRawColumnsAfter(after: number, limit: number): Promise<RawEventColumns> {
    return this.run('readRawColumnsAfter', after, limit);
  }

  async readHistory(itemType: string, id: string): Promise<StoredEvent[]> {
    return (await this.run('readHistory', itemType, id)).map(toEvent);
  }

  async readTx(tx: string): Promise<StoredEvent[]> {
    return (await this.run('readTx', tx)).map(toEvent);
  }

  async countHistory(itemType: string, id: string, upTo?: number): Promise<number> {
    return this.run('countHistory', itemType, id, upTo);
  }

  async loadCheckpoint(): Promise<Checkpoint> {
    return this.run('loadCheckpoint');
  }

  async saveCheckpoint(delta: CheckpointDelta): Promise<number> {
    try {
      return await this.run('saveCheckpoint', encodeDelta(delta));
    } catch (err) {
      throw new StoreError(`checkpoint failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async claims(opts?: { digest?: boolean }): Promise<StoreClaims> {
    return this.run('claims', opts);
  }

  /** A statement on a side table of this database (reactions/cursor-store.ts), wherever the connection is. */
  async sql(mode: SqlMode, sql: string, params: readonly unknown[] = []): Promise<unknown> {
    return this.run('sql', mode, sql, params);
  }

  /** A trivial round trip to the database (/health). */
  async ping(): Promise<void> {
    await this.run('sql', 'get', 'SELECT 1', []);
  }

  /**
   * One transaction around `fn`: appends inside it nest as savepoints, reads
   * on this connection see them, and a failure (or a crash) rolls back
   * everything. Nothing else writes meanwhile: this process holds the data
   * directory's lock, and without a store thread this is its one connection. Only
   * on this thread (`myko import` never starts one).
   */
  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    const db = this.db;
    if (db.inTransaction) throw new StoreError('atomically: a transaction is already open');
    db.exec('BEGIN IMMEDIATE');
    try {
      const out = await fn();
      db.exec('COMMIT');
      return out;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * Where other threads of this process can read the log themselves (`myko verify`'s workers, each with
   * its own read-only connection): only while this connection holds a 'write' lock (open.ts), which lets
   * them read and keeps every writer out meanwhile.
   */
  readableFile(): string | undefined {
    return this.opts.lock === 'write' && !this.thread && this.local.open ? join(this.opts.dataDir, 'myko.db') : undefined;
  }

  async close(): Promise<void> {
    // The thread's connection first: SQLite checkpoints the WAL and deletes it when the last one closes.
    if (this.thread) await (await this.thread.catch(() => undefined))?.close();
    if (this.local.open) {
      // The 'write' lock's transaction (open.ts): it holds what the open itself wrote (migrations, the server id).
      if (this.opts.lock === 'write' && this.local.inTransaction) this.local.exec('COMMIT');
      this.local.close();
    }
    if (this.guard?.open) this.guard.close();
  }
}
