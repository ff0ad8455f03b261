import type { StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';

/**
 * Connections whose live results answer from another state than the live
 * one: a wound-back client (live/windback.ts) reads the state as it was at
 * its windback time. Shared by the live engines: a pinned connection's
 * queries, views and reports read the pinned state and get no live diffs.
 * Weak, so a closed connection leaves nothing behind.
 */
export class PinnedStates {
  private readonly pins = new WeakMap<Subscriber, StateReader>();

  get(conn: Subscriber): StateReader | undefined {
    return this.pins.get(conn);
  }

  has(conn: Subscriber): boolean {
    return this.pins.has(conn);
  }

  set(conn: Subscriber, state: StateReader): void {
    this.pins.set(conn, state);
  }

  delete(conn: Subscriber): void {
    this.pins.delete(conn);
  }
}
