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
  /**
   * Pins set and not deleted (a closed connection's pin may be collected without a delete: then this
   * only over-counts). At 0, `has` answers without a WeakMap lookup, which every change makes once per
   * subscriber it reaches.
   */
  private count = 0;

  get(conn: Subscriber): StateReader | undefined {
    return this.pins.get(conn);
  }

  has(conn: Subscriber): boolean {
    return this.count !== 0 && this.pins.has(conn);
  }

  set(conn: Subscriber, state: StateReader): void {
    if (!this.pins.has(conn)) this.count++;
    this.pins.set(conn, state);
  }

  delete(conn: Subscriber): void {
    if (this.pins.delete(conn)) this.count--;
  }
}
