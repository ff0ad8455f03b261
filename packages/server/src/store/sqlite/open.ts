import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { StoreError } from '../event-store.js';
import { checkpointWalOffCommitPath } from './wal-checkpoint.js';

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
];

export interface OpenOptions {
  dataDir: string;
  sync: 'full' | 'normal';
  /**
   * 'exclusive' (the default, what a server holds): no other connection reads or writes.
   * 'write': a write transaction held open until close instead: other connections (this
   * process's threads, `myko verify`'s readers) may read, none may write, and a server still fails
   * to open the directory as it would against the exclusive lock. For a process that only reads.
   */
  lock?: 'exclusive' | 'write';
}

/**
 * Open (creating when absent) the database in `dataDir`, migrate it, and take
 * an exclusive lock: one server per data directory. The OS drops the lock when
 * the process dies, so a kill -9 never leaves it stuck. With `lock: 'write'`
 * the lock is an open write transaction (see OpenOptions), committed by
 * SqliteEventStore.close.
 */
export function openDatabase(opts: OpenOptions): { db: Db; serverId: string } {
  mkdirSync(opts.dataDir, { recursive: true });
  const file = join(opts.dataDir, 'myko.db');
  let db: Db | undefined;
  try {
    db = new Database(file, { timeout: 200 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    if (opts.lock !== 'write') db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('foreign_keys = OFF');
    // Taking a write lock now makes a second server on the same directory fail at start; 'write' keeps it
    // (the migrations below then run as savepoints inside it).
    db.exec(opts.lock === 'write' ? 'BEGIN IMMEDIATE' : 'BEGIN IMMEDIATE; COMMIT;');
  } catch (err) {
    db?.close();
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
  if (opts.lock !== 'write') checkpointWalOffCommitPath(db); // WAL checkpoints between commits, not inside one (wal-checkpoint.ts)
  return { db, serverId };
}
