import { Worker } from 'node:worker_threads';
import type { OpenOptions } from './open.js';
import type { StoreOp, StoreOps } from './ops.js';
import type { ThreadInit, ThreadReply, ThreadRequest } from './thread-worker.js';
import { StoreError } from '../event-store.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * The server's side of the store thread (thread-worker.ts). `call` sends one operation and resolves
 * with its answer; an error thrown there comes back as an Error with the same message and SQLite code.
 * If the thread dies, every call in flight and every later one fails with a StoreError: a write is
 * then refused, never assumed stored.
 */
export class StoreThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: ThreadReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
      else p.resolve(m.value);
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new StoreError(`store thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(new StoreError(`store thread stopped (exit code ${code})`)));
  }

  /**
   * Open a second connection to the database on a new thread (`open.lock` 'shared': this process
   * already holds the data directory's lock); resolves once it is open. `callerChanges`, `writeSlot`: see ThreadInit.
   */
  static start(open: OpenOptions, callerChanges: SharedArrayBuffer, writeSlot: SharedArrayBuffer): Promise<StoreThread> {
    const worker = new Worker(new URL('./thread-worker.js', import.meta.url), { workerData: { open, callerChanges, writeSlot } satisfies ThreadInit });
    return new Promise((resolve, reject) => {
      const onFirst = (m: ThreadReply) => {
        worker.off('error', onError);
        if (m.error) {
          void worker.terminate();
          reject(new StoreError(m.error.message));
        } else resolve(new StoreThread(worker));
      };
      const onError = (err: Error) => {
        worker.off('message', onFirst);
        reject(new StoreError(`store thread failed to start: ${err.message}`, { cause: err }));
      };
      worker.once('message', onFirst);
      worker.once('error', onError);
    });
  }

  /** Nothing sent is still unanswered, and the thread is alive: the database is not in use there. */
  get idle(): boolean {
    return this.pending.size === 0 && this.dead === undefined;
  }

  call<K extends StoreOp>(op: K, ...args: Parameters<StoreOps[K]>): Promise<ReturnType<StoreOps[K]>> {
    return this.send(op, args) as Promise<ReturnType<StoreOps[K]>>;
  }

  /** Close the connection (a clean SQLite shutdown, WAL checkpointed) and end the thread. */
  async close(): Promise<void> {
    if (this.dead) return;
    await this.send('close', []).catch(() => undefined);
    await this.worker.terminate();
  }

  private send(op: ThreadRequest['op'], args: unknown[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args } satisfies ThreadRequest);
    });
  }
}
