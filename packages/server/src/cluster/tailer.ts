import type { Logger } from '../logger.js';
import type { Writer } from '../core/writer.js';
import type { StoredEvent } from '../store/event-store.js';
import type { PostgresEventStore } from '../store/postgres/index.js';
import type { WriterMarker } from '../store/postgres/writers.js';

/**
 * Reads the shared log in id order and applies it, so every member applies
 * the same events in the same order (its own included).
 *
 * No event is skipped. Members append under an advisory lock, so their ids
 * commit in order; but an id can still be missing when read: taken by a
 * transaction that has not committed yet (another writer sharing the table),
 * or by one that rolled back. The tailer stops at such a gap and moves past it
 * only when every transaction that was writing when the gap was first seen has
 * ended (store.writersFinished): after that the id can never appear. Until then, everything after the
 * gap waits, which keeps the order the same on every member.
 *
 * Woken by NOTIFY (the table's trigger), by the local writer after a commit,
 * and by a 1 s poll as a safety net (a lost notification, a reconnect).
 */
export class Tailer {
  private applied = 0;
  private running = false;
  private again = false;
  private waiters: { position: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private gap: { id: number; marker: WriterMarker } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private static readonly chunk = 2000;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly writer: Writer,
    private readonly log: Logger,
  ) {}

  start(from: number): void {
    this.applied = from;
    this.timer = setInterval(() => this.kick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(new Error('server stopping'));
  }

  get position(): number {
    return this.applied;
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  catchUp(position: number): Promise<void> {
    if (this.applied >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ position, resolve, reject });
      this.kick();
    });
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.pump();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'tailing the shared log failed; retrying');
      setTimeout(() => this.kick(), 250).unref();
    } finally {
      this.running = false;
    }
  }

  private async pump(): Promise<void> {
    for (;;) {
      const rows = await this.store.readAfter(this.applied, Tailer.chunk);
      if (rows.length === 0) return;
      const ready: StoredEvent[] = [];
      let blocked = false;
      let last = this.applied;
      for (const row of rows) {
        if (row.position !== last + 1) {
          if (!(await this.gapIsFinal(last + 1))) {
            blocked = true;
            break;
          }
          this.log.debug({ from: last + 1, to: row.position - 1 }, 'id gap is final (rolled back), moving past it');
        }
        ready.push(row);
        last = row.position;
      }
      if (ready.length > 0) {
        this.writer.applyStored(ready);
        this.applied = last;
        this.settleWaiters();
      }
      if (blocked) {
        setTimeout(() => this.kick(), 20).unref();
        return;
      }
      if (rows.length < Tailer.chunk) return;
    }
  }

  private async gapIsFinal(id: number): Promise<boolean> {
    if (!this.gap || this.gap.id !== id) this.gap = { id, marker: await this.store.gapMarker() };
    if (await this.store.writersFinished(this.gap.marker)) {
      this.gap = undefined;
      return true;
    }
    return false;
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.position <= this.applied ? w.resolve() : still.push(w));
    this.waiters = still;
  }
}
