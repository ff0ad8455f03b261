/**
 * Who may write to the database right now, between the process's two connections: the event loop's
 * (a lone small append while the store thread is idle, index.ts) and the store thread's WAL
 * checkpoint (thread-worker.ts). Shared memory, so the event loop never waits for a message to ask.
 *
 * Why: SQLite restarts the WAL from its beginning only when a checkpoint has copied every frame into
 * the database and nothing was appended meanwhile. The checkpoint runs on the store thread while the
 * event loop commits lone SETs on its own connection; under a steady stream of them (a fader, a
 * show's cues, each committed alone) every checkpoint had frames appended during it, so the WAL
 * was never restarted: it grew past its size limit without bound (136 MB after 20,000 SETs, and
 * on), and each checkpoint, finding it over its bound, ran again at the next tick (every 50 ms),
 * its fsyncs beside every commit's. With the slot, a checkpoint's second pass (wal-checkpoint.ts:
 * the first runs beside the appends) runs while no append is in progress on the other connection,
 * and the appends that arrive meanwhile go to the thread, where they wait behind it: the checkpoint
 * copies everything, and the next commit restarts the WAL.
 *
 * Two Int32 cells: `owner` (FREE, APPEND: the event loop is appending, CHECKPOINT: the thread is
 * checkpointing) and `wanted` (the thread waits for the slot: the event loop takes it no more, so a
 * stream of appends cannot keep the checkpoint out).
 */
const FREE = 0;
const APPEND = 1;
const CHECKPOINT = 2;
const OWNER = 0;
const WANTED = 1;

export const WRITE_SLOT_BYTES = 8;

export class WriteSlot {
  private readonly cells: Int32Array;

  constructor(shared: SharedArrayBuffer) {
    this.cells = new Int32Array(shared, 0, 2);
  }

  /** The event loop, before appending on its own connection: false when a checkpoint runs or waits (append through the thread instead). */
  tryTakeForAppend(): boolean {
    return Atomics.load(this.cells, WANTED) === 0 && Atomics.compareExchange(this.cells, OWNER, FREE, APPEND) === FREE;
  }

  releaseAppend(): void {
    Atomics.store(this.cells, OWNER, FREE);
    Atomics.notify(this.cells, OWNER);
  }

  /**
   * The store thread, before a checkpoint's second pass: waits (blocking this thread, never the event loop) up to
   * `maxWaitMs` for an append in progress to end. An append on the event loop lasts a commit, well
   * under a millisecond; false when it did not end in time (try again at the next tick).
   */
  takeForCheckpoint(maxWaitMs: number): boolean {
    Atomics.store(this.cells, WANTED, 1);
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const was = Atomics.compareExchange(this.cells, OWNER, FREE, CHECKPOINT);
      if (was === FREE) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        Atomics.store(this.cells, WANTED, 0);
        return false;
      }
      Atomics.wait(this.cells, OWNER, was, left);
    }
    Atomics.store(this.cells, WANTED, 0);
    return true;
  }

  releaseCheckpoint(): void {
    Atomics.store(this.cells, OWNER, FREE);
  }
}
