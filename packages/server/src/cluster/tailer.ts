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
 * Woken by NOTIFY, by the local writer after a commit, and by a 1 s poll as a
 * safety net (a lost notification, a reconnect). A member's append
 * (store/postgres/append.ts) notifies 'first:last', with the rows themselves
 * when the batch is small: those are applied from the payload, without a read,
 * when they come next. Otherwise a read asks for no more rows than there are
 * ids up to the highest position known committed, so its index scan stops
 * there and does not walk the rows of an insert still in progress (PostgreSQL
 * would visit every one of them to find nothing). A wake-up without a
 * position (the trigger, for other writers; the poll; a reconnect) reads
 * whole pages until the end of the table.
 */
export class Tailer {
  private applied = 0;
  private running = false;
  private again = false;
  private waiters: { position: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private gap: { id: number; marker: WriterMarker } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Highest position known committed (a payload, or the local writer's own append). */
  private known = 0;
  /** A wake-up without a position came since the last read: read to the end. */
  private unbounded = true;
  /** Small batches as their NOTIFY carried them, by first position, until applied. */
  private readonly inline = new Map<number, StoredEvent[]>();
  private static readonly chunk = 2000;
  private static readonly maxInline = 1000;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly writer: Writer,
    private readonly log: Logger,
  ) {}

  start(from: number): void {
    this.applied = from;
    this.timer = setInterval(() => this.wake(), 1000);
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

  /** Something may have been committed, position unknown: the next read goes to the end of the table. */
  wake(): void {
    this.unbounded = true;
    this.kick();
  }

  /** A NOTIFY on the events channel: '' (the trigger), 'first:last' or 'first:last:[rows as stored]'. */
  onNotify(payload: string): void {
    const a = payload.indexOf(':');
    const b = a < 0 ? -1 : payload.indexOf(':', a + 1);
    const first = Number(payload.slice(0, a));
    const last = Number(b < 0 ? payload.slice(a + 1) : payload.slice(a + 1, b));
    if (a < 0 || !Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return this.wake();
    if (last > this.known) this.known = last;
    if (b >= 0 && first > this.applied && this.inline.size < Tailer.maxInline) {
      try {
        const rows = JSON.parse(payload.slice(b + 1)) as Omit<StoredEvent, 'position'>[];
        if (rows.length === last - first + 1) this.inline.set(first, rows.map((r, i) => ({ ...r, position: first + i })));
      } catch {
        // Read from the table instead.
      }
    }
    this.kick();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  /** Resolves once everything up to `position` (committed: the caller appended it) is applied. */
  catchUp(position: number): Promise<void> {
    if (this.applied >= position) return Promise.resolve();
    if (position > this.known) this.known = position;
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
      setTimeout(() => this.wake(), 250).unref();
    } finally {
      this.running = false;
    }
  }

  /** The next rows after `applied`: from a payload when one starts there, else read (up to `known` unless unbounded). */
  private async next(): Promise<StoredEvent[]> {
    for (const first of this.inline.keys()) if (first <= this.applied) this.inline.delete(first);
    const rows = this.inline.get(this.applied + 1);
    if (rows) {
      this.inline.delete(this.applied + 1);
      return rows;
    }
    if (!this.unbounded && this.known <= this.applied) return [];
    const limit = this.unbounded ? Tailer.chunk : Math.min(Tailer.chunk, this.known - this.applied);
    const unbounded = this.unbounded;
    this.unbounded = false;
    const read = await this.store.readNext(this.applied, limit);
    // A full page may stop short of the end: read on.
    if (read.length === limit && unbounded) this.unbounded = true;
    return read;
  }

  private async pump(): Promise<void> {
    for (;;) {
      const rows = await this.next();
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
        // What was read past the gap is read again once it is final: to the end, as it was read.
        this.unbounded = true;
        setTimeout(() => this.kick(), 20).unref();
        return;
      }
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
