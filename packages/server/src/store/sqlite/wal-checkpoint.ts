import type Database from 'better-sqlite3';

/** The WAL's size bound (PRAGMA journal_size_limit), and what wal-prealloc.ts sizes it to from the start. */
export const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

export interface WalCheckpointOptions {
  tickMs?: number;
  maxAgeMs?: number;
  /** Checkpoint once the WAL holds about this many bytes (default: half of `walSizeLimit`). */
  maxWalBytes?: number;
  /** Bytes a reset WAL file is truncated to (PRAGMA journal_size_limit). */
  walSizeLimit?: number;
  /**
   * Told of each checkpoint: the frames the WAL held, why it ran, and whether it copied every frame
   * (then the next commit restarts the WAL from its beginning) (tests).
   */
  onCheckpoint?: (frames: number, why: 'quiet' | 'age' | 'size', complete: boolean) => void;
  /**
   * When another connection of this process appends too (the event loop's, beside the store thread's:
   * write-slot.ts): taken for each checkpoint's second pass, so that nothing is appended while it runs
   * and the checkpoint copies every frame; `take` gives false when it could not be taken (the WAL keeps
   * what was appended during the first pass until the next checkpoint).
   */
  exclusive?: { take(): boolean; release(): void };
  /**
   * Rows written so far by this process's other connection to the same database (the event loop's,
   * while the store thread runs the checkpoints: index.ts), added to this connection's own count.
   */
  otherChanges?: () => number;
}

/** A row of `PRAGMA wal_checkpoint`: the frames the WAL holds (`log`) and how many of them are now in the database. */
interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}
const isComplete = (r: CheckpointResult | undefined): boolean => r !== undefined && r.busy === 0 && r.checkpointed === r.log;

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
 * - under continuous writes, once the WAL holds about half its size limit, or
 *   `maxAgeMs` passed since the first write after the last checkpoint. Rare on
 *   purpose: each checkpoint fsyncs the database file and delays whatever
 *   arrives meanwhile, so it should hold back one event in thousands, not one
 *   in hundreds (every 250 ms did, measured at 1 subscriber); and the fewer
 *   there are, the fewer times a page written again and again (an index's last
 *   leaf, the log head) is copied into the database. A bound of 4,000 rows
 *   checkpointed batched ingest every ~0.1 s; in frames it is 10-20 times rarer
 *   there (interleaved A/B, medians of 3: ingest 0.301 against 0.281 of the
 *   raw insert, 31.8 against 34.3 µs of CPU per event).
 *
 * SQLite does not tell how many frames the WAL holds short of checkpointing
 * it, but every checkpoint does, so the frames a written row costs are learnt
 * from each one (about 2.7 for single-event commits, far less than one for
 * batches) and the WAL's fill is estimated from the rows written since. The
 * bound is half the WAL's size limit: the rest is room for a burst whose rows
 * cost more frames than the last ones did, within the bytes wal-prealloc.ts
 * wrote for it.
 *
 * The WAL starts over only after a checkpoint that copied every frame with
 * nothing appended meanwhile. When the process's other connection appends
 * while this one checkpoints (`exclusive`), a checkpoint is two passes: the
 * first beside its appends, the second holding them off, copying what they
 * added during the first (write-slot.ts tells why: without it the WAL never
 * started over under a stream of lone SETs).
 *
 * Durability does not depend on checkpoints: a commit is durable once its WAL
 * frames are synced, and a crash (kill -9) during a checkpoint leaves the WAL
 * valid; the next open recovers from it. `journal_size_limit` truncates a WAL
 * file that grew past it when it is reset, so its disk footprint stays bounded too.
 *
 * Activity is read as `total_changes()` (rows this connection has written),
 * plus `otherChanges` (rows the process's other connection wrote): one small
 * statement per tick, and the timer is unref'd and stops once the database is
 * closed, or when the returned function is called.
 */
export function checkpointWalOffCommitPath(db: Database.Database, opts: WalCheckpointOptions = {}): () => void {
  const tickMs = opts.tickMs ?? 50;
  const maxAgeMs = opts.maxAgeMs ?? 2000;
  const limit = opts.walSizeLimit ?? WAL_SIZE_LIMIT;
  db.pragma('wal_autocheckpoint = 0');
  db.pragma(`journal_size_limit = ${limit}`);
  const frameBytes = (db.pragma('page_size', { simple: true }) as number) + 24;
  const maxFrames = Math.max(64, Math.floor((opts.maxWalBytes ?? limit / 2) / frameBytes));
  const own = db.prepare('SELECT total_changes()').pluck();
  const passive = (): CheckpointResult | undefined => (db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[])[0];
  const other = opts.otherChanges;
  const changes = { get: (): number => (own.get() as number) + (other ? other() : 0) };
  let lastTick = changes.get();
  /** total_changes() at the last checkpoint, and when the first write after it was seen (0: none yet). */
  let atCheckpoint = lastTick;
  let dirtySince = 0;
  /** WAL frames per row written, as the last checkpoint found it; until then, what a single-event commit costs. */
  let framesPerChange = 3;
  /** Whether the last checkpoint copied every frame (the WAL restarted after it); the first starts from a fresh WAL. */
  let lastComplete = true;
  const timer = setInterval(() => {
    if (!db.open) return clearInterval(timer);
    if (db.inTransaction) return; // an atomically() block: its commit comes later
    const now = changes.get();
    if (now === atCheckpoint) return;
    const t = Date.now();
    if (dirtySince === 0) dirtySince = t;
    const quiet = now === lastTick;
    lastTick = now;
    if (!quiet && t - dirtySince < maxAgeMs && (now - atCheckpoint) * framesPerChange < maxFrames) return;
    let result: CheckpointResult | undefined;
    let complete: boolean;
    /**
     * Rows written when the last pass began: the frames it reports are theirs. The first pass runs beside
     * the other connection's appends, so rows written during it are counted only by the second, which
     * holds them off, and counts again under the slot. Counted only at the tick's start, a first pass
     * that met a stream of appends (it copies the whole WAL: long) left those rows to the next
     * checkpoint's count while their frames were already copied: the next checkpoint learnt 0.01 frames
     * per row instead of ~2.5, and its size bound then let the WAL grow to hundreds of MiB
     * (thread.int.test.ts failed so 4 runs in 10 on an Intel host; wal-checkpoint.int.test.ts replays it
     * every time). Without a second pass nothing is learnt from this checkpoint (it is not complete).
     */
    let counted = now;
    try {
      // Beside the other connection's appends first: this copies nearly every frame without holding
      // anyone up. Its answer cannot tell whether they appended meanwhile (it counts the frames the WAL
      // held when it began), so a second pass that holds them off copies what they did: one or two
      // commits' pages instead of the whole WAL's.
      result = passive();
      complete = isComplete(result) && !opts.exclusive;
      if (opts.exclusive?.take()) {
        try {
          counted = changes.get();
          result = passive();
          complete = isComplete(result);
        } finally {
          opts.exclusive.release();
        }
      }
    } catch {
      return; // tried again at the next tick; a store that cannot checkpoint fails its commits loudly anyway
    }
    const frames = result?.log ?? 0;
    // When the last checkpoint copied every frame, the first commit after it restarted the WAL (nothing
    // else reads it meanwhile: this process holds the directory's lock), so `frames` were all written by
    // the rows counted since. After one that did not, the WAL still holds older frames: nothing to learn from it.
    if (frames > 0 && lastComplete && counted > atCheckpoint) framesPerChange = frames / (counted - atCheckpoint);
    lastComplete = complete;
    opts.onCheckpoint?.(frames, quiet ? 'quiet' : t - dirtySince >= maxAgeMs ? 'age' : 'size', complete);
    atCheckpoint = counted;
    dirtySince = 0;
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}
