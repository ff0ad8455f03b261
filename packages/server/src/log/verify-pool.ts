import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { checkBatch, type CheckedBatch, type RowBatch, type WalkRows } from './verify-rows.js';
import type { SnapshotSummary } from './verify-snapshot.js';

/** A worker's task: a batch of rows, or (when it reads the database itself) the positions `after` < p ≤ `upTo`. */
export type VerifyTask = RowBatch | { after: number; upTo: number };
/** What a worker starts with: the database file it reads its ranges from, when it does. */
export interface WorkerInit {
  file?: string | undefined;
  /** This worker loads the saved snapshot from the file, answers its SnapshotSummary once, and ends. */
  snapshot?: boolean;
}
/** A range's answer: its rows without their texts, and what checkBatch found. */
export interface CheckedRange {
  rows: WalkRows;
  checked: CheckedBatch;
}

type Waiting = { resolve: (c: unknown) => void; reject: (e: Error) => void };

/**
 * Runs checkBatch on worker threads, or on this thread when given none. Each
 * worker answers its tasks in the order it was sent them; tasks go round
 * the workers in turn, so taking answers in the same turn gives them in log
 * order. Given a database file, the workers read their rows themselves
 * (checkRange); otherwise they are sent the rows (check).
 */
export class VerifyPool {
  private readonly workers: { worker: Worker; waiting: Waiting[] }[] = [];
  private turn = 0;
  private readonly others: Worker[] = [];

  constructor(threads: number, readonly file?: string) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { file } satisfies WorkerInit });
      const w = { worker, waiting: [] as Waiting[] };
      worker.on('message', (c: unknown) => w.waiting.shift()?.resolve(c));
      const fail = (err: Error) => {
        for (const p of w.waiting.splice(0)) p.reject(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`verify worker exited (${code})`)));
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  /** True when the workers read their rows from the database (checkRange). */
  get reads(): boolean {
    return this.file !== undefined && this.workers.length > 0;
  }

  /**
   * How many batches to keep in flight: enough that no worker waits for the reader. Deeper when the
   * workers read their rows: an answer holds no texts, and a worker with more queued keeps working
   * while this thread waits for a core (on a busy machine, many milliseconds at a time).
   */
  get depth(): number {
    return Math.max(1, this.workers.length * (this.reads ? 12 : 3));
  }

  check(b: RowBatch): Promise<CheckedBatch> {
    if (this.workers.length === 0) return Promise.resolve(checkBatch(b));
    return this.send(b);
  }

  /** The rows `after` < position ≤ `upTo`, read and checked by a worker (only when `reads`). */
  checkRange(after: number, upTo: number): Promise<CheckedRange> {
    return this.send({ after, upTo });
  }

  /** The saved snapshot's summary, from a worker of its own that reads it from the file (only when `reads`). */
  snapshot(): Promise<SnapshotSummary> {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { file: this.file, snapshot: true } satisfies WorkerInit });
    this.others.push(worker);
    return new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`verify worker exited (${code})`)));
    });
  }

  private send<T>(task: VerifyTask): Promise<T> {
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise<T>((resolve, reject) => {
      w.waiting.push({ resolve: resolve as (c: unknown) => void, reject });
      w.worker.postMessage(task);
    });
  }

  /** Batches still in flight are dropped unanswered (verify stopped at a failure): nothing awaits them. */
  async close(): Promise<void> {
    for (const w of this.workers) w.waiting.length = 0;
    await Promise.all([...this.workers.map((w) => w.worker), ...this.others].map((w) => w.terminate()));
  }
}

/** Threads for a log of `total` events: none for a small one (starting a worker costs more than it saves). */
export function threadsFor(total: number): number {
  return total < 50_000 ? 0 : Math.min(4, availableParallelism());
}
