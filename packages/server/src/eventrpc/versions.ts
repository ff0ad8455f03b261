import type { Logger } from '../logger.js';
import type { Change, StateReader } from '../core/state.js';
import type { StoredEvent } from '../store/event-store.js';

/** Called for each event of a watched aggregate with the aggregate's version after it. */
export type EventWatcher = (event: StoredEvent, version: number) => void;

/** How many deleted aggregates keep their version, so a re-created one goes on counting. */
export const defaultMaxTombstones = 100_000;

/**
 * EventRPC aggregate versions and event streams, fed by a writer listener.
 *
 * Definition (docs/PROTOCOLS.md): the version of aggregate `ITEMTYPE/ID` is
 * the number of events that changed it since counting began (the first
 * EventRPC connection since the server started: a server without EventRPC
 * clients pays nothing). The state it had then counts as one event (an
 * existing item starts at 1, an absent one at 0); each SET that changed it and
 * each DEL of it adds one. A SET equal to the stored item, or a DEL of an
 * absent one, is stored in the log but changes nothing: it neither counts nor
 * reaches event subscribers.
 *
 * Hazards: counts live in memory (one entry per item changed since counting
 * began), so they start again from 1 after a restart; a deleted aggregate's
 * count is kept (a re-created one goes on from it) for the last
 * `maxTombstones` deletions, older ones start again from 0.
 *
 * The listener must run before the live engine's, so an update built while
 * a batch is delivered reads the version that includes it: the endpoint puts
 * it first in `writer.listeners`.
 */
export class AggregateVersions {
  private readonly counts = new Map<string, Map<string, number>>();
  /** Deleted aggregates whose count is kept, oldest first: key → [itemType, id]. */
  private readonly tombstones = new Map<string, [string, string]>();
  private readonly watchers = new Map<string, Set<EventWatcher>>();

  constructor(
    private readonly state: StateReader,
    private readonly log: Logger,
    private readonly maxTombstones = defaultMaxTombstones,
  ) {}

  readonly listener = (changes: readonly Change[]): void => {
    for (const c of changes) {
      const version = this.bump(c);
      if (this.watchers.size === 0) continue;
      const ws = this.watchers.get(keyOf(c.itemType, c.id));
      if (!ws) continue;
      for (const w of [...ws]) {
        try {
          w(c.event, version);
        } catch (err) {
          this.log.error({ err }, 'event subscriber failed');
        }
      }
    }
  };

  version(itemType: string, id: string): number {
    return this.counts.get(itemType)?.get(id) ?? (this.state.get(itemType, id) ? 1 : 0);
  }

  /** Watch the events of one aggregate; returns the function that stops watching. */
  watch(itemType: string, id: string, watcher: EventWatcher): () => void {
    const key = keyOf(itemType, id);
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(watcher);
    return () => {
      const s = this.watchers.get(key);
      if (!s) return;
      s.delete(watcher);
      if (s.size === 0) this.watchers.delete(key);
    };
  }

  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  private bump(c: Change): number {
    let byId = this.counts.get(c.itemType);
    if (!byId) this.counts.set(c.itemType, (byId = new Map()));
    const known = byId.get(c.id);
    const version = (known ?? (c.prev !== undefined ? 1 : 0)) + 1;
    byId.set(c.id, version);
    if (c.next === undefined) {
      const key = keyOf(c.itemType, c.id);
      this.tombstones.delete(key); // re-insert: newest last
      this.tombstones.set(key, [c.itemType, c.id]);
      if (this.tombstones.size > this.maxTombstones) {
        const [oldest, [t, id]] = this.tombstones.entries().next().value as [string, [string, string]];
        this.tombstones.delete(oldest);
        const m = this.counts.get(t);
        m?.delete(id);
        if (m?.size === 0) this.counts.delete(t);
      }
    } else if (c.prev === undefined && this.tombstones.size > 0) {
      this.tombstones.delete(keyOf(c.itemType, c.id)); // re-created: live again (only an absent item can be a tombstone)
    }
    return version;
  }
}

function keyOf(itemType: string, id: string): string {
  return `${itemType}\u0000${id}`;
}
