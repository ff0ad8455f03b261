import type Database from 'better-sqlite3';

/**
 * WAL checkpoints off the commit path.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL
 * past 1,000 pages: that one commit also copies the WAL's pages into the
 * database and fsyncs it, and every subscriber of that event waits for it (a
 * single-event commit writes about 5 pages here, so one commit in ~200). It is
 * turned off, and a PASSIVE checkpoint runs from a timer instead, between
 * commits:
 *
 * - when the store has gone quiet (nothing written for one tick): nothing waits on it;
 * - under continuous writes, once `maxChanges` rows were written since the
 *   last one, or `maxAgeMs` passed since the first write after it: the bound on
 *   the WAL's size. Rare on purpose: each checkpoint fsyncs the database file
 *   and delays whatever arrives meanwhile, so it should hold back one event in
 *   thousands, not one in hundreds (every 250 ms did, measured at 1 subscriber).
 *   Single-event commits (~2 rows, ~5 pages each) reach 4,000 rows at about
 *   40 MB of WAL; batched ingest (~1 row per event, a fraction of a page) far
 *   sooner in bytes.
 *
 * Durability does not depend on checkpoints: a commit is durable once its WAL
 * frames are synced, and a crash (kill -9) during a checkpoint leaves the WAL
 * valid; the next open recovers from it. `journal_size_limit` truncates a WAL
 * file that grew past it when it is reset, so its disk footprint stays bounded too.
 *
 * Activity is read as `total_changes()` (rows this connection has written):
 * one small statement per tick, and the timer is unref'd and stops once the
 * database is closed.
 */
/** The WAL's size bound (PRAGMA journal_size_limit), and what wal-prealloc.ts sizes it to from the start. */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

export interface WalCheckpointOptions {
  tickMs?: number;
  maxAgeMs?: number;
  maxChanges?: number;
  /** Bytes a reset WAL file is truncated to (PRAGMA journal_size_limit). */
  walSizeLimit?: number;
}

export function checkpointWalOffCommitPath(db: Database.Database, opts: WalCheckpointOptions = {}): void {
  const tickMs = opts.tickMs ?? 50;
  const maxAgeMs = opts.maxAgeMs ?? 2000;
  const maxChanges = opts.maxChanges ?? 4000;
  db.pragma('wal_autocheckpoint = 0');
  db.pragma(`journal_size_limit = ${opts.walSizeLimit ?? WAL_SIZE_LIMIT}`);
  const changes = db.prepare('SELECT total_changes()').pluck();
  let lastTick = changes.get() as number;
  /** total_changes() at the last checkpoint, and when the first write after it was seen (0: none yet). */
  let atCheckpoint = lastTick;
  let dirtySince = 0;
  const timer = setInterval(() => {
    if (!db.open) return clearInterval(timer);
    if (db.inTransaction) return; // an atomically() block: its commit comes later
    const now = changes.get() as number;
    if (now === atCheckpoint) return;
    const t = Date.now();
    if (dirtySince === 0) dirtySince = t;
    const quiet = now === lastTick;
    lastTick = now;
    if (!quiet && t - dirtySince < maxAgeMs && now - atCheckpoint < maxChanges) return;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      return; // tried again at the next tick; a store that cannot checkpoint fails its commits loudly anyway
    }
    atCheckpoint = now;
    dirtySince = 0;
  }, tickMs);
  timer.unref();
}
