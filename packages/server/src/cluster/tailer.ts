import type { Logger } from '../logger.js';
import type { Writer } from '../core/writer.js';
import type { NewEvent, StoredEvent } from '../store/event-store.js';
import { asStored } from './as-stored.js';
import type { PostgresEventStore } from '../store/postgres/index.js';
import type { WriterMarker } from '../store/postgres/writers.js';
import { copyWith } from '@myko/protocol';

/**
 * Reads the shared log in id order and applies it, so every member applies
 * the same events in the same order (its own included).
 *
 * No event is skipped. Members append under an advisory lock, so their ids
 * commit in order; but an id can still be missing when read: taken by a
 * transaction that has not committed yet (another writer sharing the table),
 * or by one that rolled back. The tailer stops at such a gap and moves past it
 * only when every transaction that was writing when the gap was first seen has
 * ended (store.writersFinished) and a read started after that still misses
 * it: then the id can never appear. Until then, everything after the gap
 * waits, which keeps the order the same on every member.
 *
 * Woken by NOTIFY, by the local writer after a commit, and by a 1 s poll as a
 * safety net (a lost notification, a reconnect). Batches it knows without
 * reading are applied from memory when they come next: small ones from their
 * NOTIFY payload ('first:last:[rows as stored]', store/postgres/append.ts),
 * and this member's own appends (as stored: as-stored.ts). Otherwise a read
 * asks for no more rows than there are ids up to the next batch in memory or
 * the highest position known committed, so its index scan stops
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
  /** The missing id the tailer waits at; `finishedBefore`: its writers had all ended before read number finishedBefore + 1. */
  private gap: { id: number; marker: WriterMarker; finishedBefore?: number } | undefined;
  /** Reads of the table started so far. */
  private reads = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Highest position known committed (a payload, or the local writer's own append). */
  private known = 0;
  /** A wake-up without a position came since the last read: read to the end. */
  private unbounded = true;
  /**
   * Batches known without reading them, by first position, until applied: small ones as their NOTIFY
   * carried them, and this member's own appends (as they were stored: as-stored.ts).
   */
  private readonly inline = new Map<number, StoredEvent[] | { own: readonly NewEvent[] }>();
  private static readonly chunk = 2000;
  private static readonly maxInline = 1000;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly writer: Writer,
    private readonly log: Logger,
  ) {}

  start(from: number): void {
    this.applied = from;
    this.store.onAppended = (events, first) => {
      // A payload for the same batch, when it came first, is kept: it is the rows as stored.
      if (first > this.applied && !this.inline.has(first) && this.inline.size < Tailer.maxInline) this.inline.set(first, { own: events });
    };
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
        if (rows.length === last - first + 1) this.inline.set(first, rows.map((r, i) => copyWith(r, 'position', first + i)));
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

  /**
   * The next rows after `applied`, and the number of the read they came from (0: from memory only).
   * A batch in memory that starts there is taken as it is. Otherwise a read, of no more rows than
   * there are ids up to the next batch in memory (or, with none, up to `known`, unless unbounded);
   * when it comes back short of that batch, the batch follows what was read and the gap rule decides
   * about the ids between.
   */
  private async next(): Promise<{ rows: StoredEvent[]; read: number }> {
    let following = Infinity;
    for (const first of this.inline.keys()) {
      if (first <= this.applied) this.inline.delete(first);
      else if (first > this.applied + 1 && first < following) following = first;
    }
    const here = this.take(this.applied + 1);
    if (here) return { rows: here, read: 0 };
    let limit: number;
    if (following !== Infinity) limit = Math.min(Tailer.chunk, following - this.applied - 1);
    else if (this.unbounded) limit = Tailer.chunk;
    else if (this.known > this.applied) limit = Math.min(Tailer.chunk, this.known - this.applied);
    else return { rows: [], read: 0 };
    const unbounded = this.unbounded;
    // A read that stops at a batch in memory has not reached the end: a wake-up still wants the rest.
    if (following === Infinity) this.unbounded = false;
    const read = ++this.reads;
    const rows = await this.store.readNext(this.applied, limit);
    if (rows.length === limit) {
      // A full page may stop short of the end: read on.
      if (unbounded && following === Infinity) this.unbounded = true;
      return { rows, read };
    }
    if (following !== Infinity && (rows.length === 0 || rows[rows.length - 1]!.position < following)) {
      const after = this.take(following);
      if (after) return { rows: rows.length > 0 ? rows.concat(after) : after, read };
    }
    return { rows, read };
  }

  private take(first: number): StoredEvent[] | undefined {
    const entry = this.inline.get(first);
    if (!entry) return undefined;
    this.inline.delete(first);
    if (Array.isArray(entry)) return entry;
    return entry.own.map((e, i) => copyWith(asStored(e) as NewEvent, 'position', first + i));
  }

  private async pump(): Promise<void> {
    for (;;) {
      const { rows, read } = await this.next();
      if (rows.length === 0) return;
      const ready: StoredEvent[] = [];
      let blocked: 'wait' | 'reread' | undefined;
      let last = this.applied;
      for (const row of rows) {
        if (row.position !== last + 1) {
          const verdict = await this.gapVerdict(last + 1, read);
          if (verdict !== 'final') {
            blocked = verdict;
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
      // What came past the gap is read again: to the end, as it was read.
      if (blocked) this.unbounded = true;
      if (blocked === 'wait') {
        setTimeout(() => this.kick(), 20).unref();
        return;
      }
    }
  }

  /**
   * Whether the missing id can be moved past. Only once every writer that was in progress when the gap
   * was seen has ended (writers.ts), and then only on the strength of a read started after that: rows
   * read before it (or known from memory) prove nothing about an id that committed meanwhile.
   */
  private async gapVerdict(id: number, read: number): Promise<'final' | 'wait' | 'reread'> {
    if (this.gap?.id === id && this.gap.finishedBefore !== undefined) {
      if (read > this.gap.finishedBefore) {
        this.gap = undefined;
        return 'final';
      }
      return 'reread';
    }
    if (!this.gap || this.gap.id !== id) this.gap = { id, marker: await this.store.gapMarker() };
    if (await this.store.writersFinished(this.gap.marker)) {
      this.gap.finishedBefore = this.reads;
      return 'reread';
    }
    return 'wait';
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.position <= this.applied ? w.resolve() : still.push(w));
    this.waiters = still;
  }
}
