import type { Subscriber } from './subscriber.js';

/**
 * Each connection's live subscriptions, by tx: what the query, view and
 * report engines each keep, so a request can find its subscription, a
 * connection's limit can be counted and a closed connection dropped whole.
 */
export class ByConnection<S> {
  private readonly map = new Map<Subscriber, Map<string, S>>();

  /** Every subscription of every connection (metrics). */
  get size(): number {
    let n = 0;
    for (const m of this.map.values()) n += m.size;
    return n;
  }

  countFor(conn: Subscriber): number {
    return this.map.get(conn)?.size ?? 0;
  }

  has(conn: Subscriber, tx: string): boolean {
    return this.map.get(conn)?.has(tx) ?? false;
  }

  get(conn: Subscriber, tx: string): S | undefined {
    return this.map.get(conn)?.get(tx);
  }

  /** The connection's subscriptions, as a copy: callers may remove while they walk it. */
  of(conn: Subscriber): S[] {
    const mine = this.map.get(conn);
    return mine ? [...mine.values()] : [];
  }

  add(conn: Subscriber, tx: string, sub: S): void {
    let mine = this.map.get(conn);
    if (!mine) this.map.set(conn, (mine = new Map()));
    mine.set(tx, sub);
  }

  delete(conn: Subscriber, tx: string): boolean {
    const mine = this.map.get(conn);
    if (!mine?.delete(tx)) return false;
    if (mine.size === 0) this.map.delete(conn);
    return true;
  }

  /** Forget the connection; answers what it held. */
  drop(conn: Subscriber): S[] {
    const held = this.of(conn);
    this.map.delete(conn);
    return held;
  }
}
