import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { makeReadRawColumnsBetween } from '../store/sqlite/read.js';
import { makeCheckpointClaims, makeLoadCheckpoint } from '../store/sqlite/checkpoint.js';
import { checkBatch, transferables, walkRows, type RowBatch } from './verify-rows.js';
import { snapshotSummary, type SnapshotSummary } from './verify-snapshot.js';
import type { CheckedRange, VerifyTask, WorkerInit } from './verify-pool.js';

/**
 * A verify worker (log/verify-pool.ts): checks each batch it is sent, answers in the order they came.
 * Given a database file, it reads its own batches from it (a range of positions per task) through a
 * read-only connection of its own: the rows' texts then never cross between threads, and the main
 * thread neither reads nor copies them. Or, started for the snapshot, it loads that once and answers with
 * its summary (verify-snapshot.ts).
 */
const init = (workerData ?? {}) as WorkerInit;
const db = init.file ? new Database(init.file, { readonly: true, fileMustExist: true }) : undefined;

if (init.snapshot) {
  parentPort!.postMessage(snapshot(db!));
  db!.close();
} else {
  const between = db ? makeReadRawColumnsBetween(db) : undefined;
  parentPort!.on('message', (task: VerifyTask) => {
    if (!('upTo' in task)) {
      const c = checkBatch(task);
      return parentPort!.postMessage(c, [c.pidCounts.buffer as ArrayBuffer, c.chainLinks.buffer as ArrayBuffer]);
    }
    const batch: RowBatch = between!(task.after, task.upTo);
    const checked = checkBatch(batch);
    // The main thread needs the rows but not their texts (they are checked here).
    const rows = walkRows(batch);
    parentPort!.postMessage({ rows, checked } satisfies CheckedRange, transferables(rows, checked));
  });
}

/** As the store's loadCheckpoint gives it; rows that do not parse are an error, after their digest's problem (claims). */
function snapshot(db: Database.Database): SnapshotSummary {
  try {
    return snapshotSummary(makeLoadCheckpoint(db)());
  } catch (err) {
    const none = { items: '', itemCount: 0, leaves: '', leafCount: 0 };
    return { problem: makeCheckpointClaims(db)()?.problem, error: (err as Error).message, digest: none, derivedItems: [] };
  }
}
