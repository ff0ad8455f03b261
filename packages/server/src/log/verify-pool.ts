import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { checkBatch, type CheckedBatch, type RowBatch } from './verify-rows.js';

/**
 * Runs checkBatch on worker threads, or on this thread when given none. Each
 * worker answers its batches in the order it was sent them; batches go round
 * the workers in turn, so taking answers in the same turn gives them in log
 * order.
 */
export class VerifyPool {
  private readonly workers: { worker: Worker; waiting: { resolve: (c: CheckedBatch) => void; reject: (e: Error) => void }[] }[] = [];
  private turn = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./verify-worker.js', import.meta.url));
      const w = { worker, waiting: [] as { resolve: (c: CheckedBatch) => void; reject: (e: Error) => void }[] };
      worker.on('message', (c: CheckedBatch) => w.waiting.shift()?.resolve(c));
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

  /** How many batches to keep in flight: enough that no worker waits for the reader. */
  get depth(): number {
    return Math.max(1, this.workers.length * 3);
  }

  check(b: RowBatch): Promise<CheckedBatch> {
    if (this.workers.length === 0) return Promise.resolve(checkBatch(b));
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      w.waiting.push({ resolve, reject });
      w.worker.postMessage(b);
    });
  }

  /** Batches still in flight are dropped unanswered (verify stopped at a failure): nothing awaits them. */
  async close(): Promise<void> {
    for (const w of this.workers) w.waiting.length = 0;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/** Threads for a log of `total` events: none for a small one (starting a worker costs more than it saves). */
export function threadsFor(total: number): number {
  return total < 50_000 ? 0 : Math.min(4, availableParallelism());
}
