import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { StoreError } from '../event-store.js';
import { checkpointWalOffCommitPath } from './wal-checkpoint.js';
import { LOG_HEAD_ROW } from './append.js';

export type Db = Database.Database;

/**
 * Schema, kept close to the reference server's PostgreSQL layout
 * (`myko_events`) so the two backends read alike. `myko_snapshot` is the
 * checkpoint: current state as of `meta.checkpoint_position` (checkpoint.ts).
 */
const migrations: string[] = [
  `CREATE TABLE myko_events (
     id          INTEGER PRIMARY KEY AUTOINCREMENT,
     item_type   TEXT NOT NULL,
     item_id     TEXT NOT NULL,
     change_type TEXT NOT NULL,
     created_at  TEXT NOT NULL,
     tx          TEXT NOT NULL,
     source_id   TEXT NOT NULL,
     event       TEXT NOT NULL
   );
   CREATE INDEX myko_events_item ON myko_events (item_type, item_id);
   CREATE TABLE myko_state (
     item_type TEXT NOT NULL,
     item_id   TEXT NOT NULL,
     item      TEXT NOT NULL,
     PRIMARY KEY (item_type, item_id)
   ) WITHOUT ROWID;
   CREATE TABLE myko_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // 2: event identity. Each item's leaf event ids as of the checkpoint (deleted items included).
  `CREATE TABLE myko_leaves (
     item_type TEXT NOT NULL,
     item_id   TEXT NOT NULL,
     pids      TEXT NOT NULL,
     PRIMARY KEY (item_type, item_id)
   ) WITHOUT ROWID;`,
  // 3: a live item's leaves ride in its state row (one write per item at a checkpoint, not two);
  //    myko_leaves keeps only deleted items'.
  `ALTER TABLE myko_state ADD COLUMN pids TEXT;`,
  // 4: a transaction's events without a pass over the log (TransactionUndoPlan, UndoTransaction).
  `CREATE INDEX myko_events_tx ON myko_events (tx);`,
  // 5: the snapshot as segments of entries (checkpoint.ts: why), instead of a row per item. A snapshot
  //    saved the old way is dropped, not converted: the log is the truth, so the first boot after the
  //    upgrade replays it whole and saves a new snapshot.
  `CREATE TABLE myko_snapshot (
     seq      INTEGER PRIMARY KEY,
     position INTEGER NOT NULL,
     entries  INTEGER NOT NULL,
     hash     TEXT NOT NULL,
     body     TEXT NOT NULL
   );
   DROP TABLE myko_state;
   DROP TABLE myko_leaves;
   DELETE FROM myko_meta WHERE key IN ('checkpoint_position', 'checkpoint_event_id', 'checkpoint_chain', 'checkpoint_digest', 'checkpoint_derived');`,
  // 6: the log's head moves from myko_meta to a row of sqlite_sequence, which every append writes
  //    anyway: one page fewer per commit (append.ts, LOG_HEAD_ROW).
  `INSERT INTO sqlite_sequence (name, seq) SELECT '${LOG_HEAD_ROW}', value FROM myko_meta WHERE key = 'log_head';
   DELETE FROM myko_meta WHERE key = 'log_head';`,
];

export interface OpenOptions {
  dataDir: string;
  sync: 'full' | 'normal';
  /**
   * 'exclusive' (the default, what a server holds): no other process opens the data directory
   * (the directory's lock, below); this process may open a second connection with 'shared'.
   * 'write': a write transaction held open until close as well: other connections (this
   * process's threads, `myko verify`'s readers) may read, none may write. For a process that only reads.
   * 'shared': a second connection of a process that already holds the directory's lock (the store
   * thread's, thread-worker.ts): it takes no lock of its own and runs no WAL checkpoints unless told.
   */
  lock?: 'exclusive' | 'write' | 'shared';
}

/**
 * The data directory's lock: an exclusive lock on `myko.lock`, a small SQLite file kept beside the log
 * only for it (SQLite's locking_mode=EXCLUSIVE holds the file lock until the connection closes). It
 * is not taken on the log itself because this process writes the log through two connections (the
 * store thread's for batches, the event loop's for single events while that thread is idle: index.ts),
 * which SQLite's exclusive locking mode would refuse. The OS drops the lock when the process dies,
 * so a kill -9 never leaves it stuck; a second opener in this process or another gets SQLITE_BUSY.
 */
function lockDirectory(dataDir: string): Db {
  const guard = new Database(join(dataDir, 'myko.lock'), { timeout: 0 });
  try {
    guard.pragma('locking_mode = EXCLUSIVE');
    guard.exec('BEGIN EXCLUSIVE; COMMIT;');
    return guard;
  } catch (err) {
    guard.close();
    throw err;
  }
}

/**
 * Open (creating when absent) the database in `dataDir`, migrate it, and lock
 * the directory (lockDirectory): one server per data directory. With `lock: 'write'`
 * an open write transaction is held as well (see OpenOptions), committed by
 * SqliteEventStore.close; `guard` is the directory's lock, to close after the database.
 */
export function openDatabase(opts: OpenOptions): { db: Db; serverId: string; guard: Db | undefined; stopWalCheckpoints: () => void } {
  mkdirSync(opts.dataDir, { recursive: true });
  const file = join(opts.dataDir, 'myko.db');
  let db: Db | undefined;
  let guard: Db | undefined;
  try {
    if (opts.lock !== 'shared') guard = lockDirectory(opts.dataDir);
    db = new Database(file, { timeout: 200 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = OFF');
    // A write lock taken now also fails against a process that holds the log itself (a server of an
    // earlier version locked the log, not the directory); 'write' keeps it (the migrations below then
    // run as savepoints inside it).
    db.exec(opts.lock === 'write' ? 'BEGIN IMMEDIATE' : 'BEGIN IMMEDIATE; COMMIT;');
  } catch (err) {
    db?.close();
    guard?.close();
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY')
      throw new StoreError(`data directory ${opts.dataDir} is in use by another myko process`, { cause: err });
    throw new StoreError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  let serverId = (db.prepare(`SELECT value FROM myko_meta WHERE key = 'server_id'`).get() as { value: string } | undefined)
    ?.value;
  if (!serverId) {
    serverId = randomUUID();
    db.prepare(`INSERT INTO myko_meta (key, value) VALUES ('server_id', ?)`).run(serverId);
  }
  // WAL checkpoints between commits, not inside one (wal-checkpoint.ts); a 'shared' connection's owner starts its own.
  const stopWalCheckpoints = opts.lock === 'exclusive' || opts.lock === undefined ? checkpointWalOffCommitPath(db) : () => undefined;
  return { db, serverId, guard, stopWalCheckpoints };
}
