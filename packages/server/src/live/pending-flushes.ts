import type { Subscriber } from './subscriber.js';

/**
 * Live results with a response to send, per connection (queries and views
 * alike). A flush sends every connection's pending responses, except a
 * congested connection's: it is skipped, its results keep coalescing, and it
 * is flushed when its socket drains.
 *
 * A connection with one pending result (the common case: one change fanned out
 * to a thousand connections with a query each) holds that result itself, not a
 * Set of one: no Set made and dropped per connection per change.
 */
export class PendingFlushes<S extends { readonly conn: Subscriber }> {
  private readonly dirty = new Map<Subscriber, S | Set<S>>();
  private readonly waitingForDrain = new Set<Subscriber>();

  constructor(private readonly send: (sub: S) => void) {}

  mark(sub: S): void {
    const held = this.dirty.get(sub.conn);
    if (held === undefined) this.dirty.set(sub.conn, sub);
    else if (held instanceof Set) held.add(sub);
    else if (held !== sub) this.dirty.set(sub.conn, new Set([held, sub]));
  }

  /** The result was answered some other way (a page move, a cancel): nothing of it is pending any more. */
  unmark(sub: S): void {
    const held = this.dirty.get(sub.conn);
    if (held === sub) this.dirty.delete(sub.conn);
    else if (held instanceof Set) held.delete(sub);
  }

  /** Every result of `conn` is about to be answered afresh (windback). */
  forget(conn: Subscriber): void {
    this.dirty.delete(conn);
  }

  dropConnection(conn: Subscriber): void {
    this.dirty.delete(conn);
    this.waitingForDrain.delete(conn);
  }

  /** Send every pending response whose connection can take it. */
  flush(): void {
    if (this.dirty.size === 0) return;
    for (const [conn, subs] of this.dirty) {
      if (conn.congested()) {
        if (!this.waitingForDrain.has(conn)) {
          this.waitingForDrain.add(conn);
          conn.onDrain(() => {
            this.waitingForDrain.delete(conn);
            this.flush();
          });
        }
        continue;
      }
      if (subs instanceof Set) for (const sub of subs) this.send(sub);
      else this.send(subs);
      this.dirty.delete(conn);
    }
  }
}
