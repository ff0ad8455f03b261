import type { Logger } from '../logger.js';
import type { Change, StateReader } from '../core/state.js';
import type { EventStore, StoredEvent } from '../store/event-store.js';

/** Called for each event of a watched aggregate with the aggregate's version after it. */
export type EventWatcher = (event: StoredEvent, version: number) => void;

/** A persisted aggregate with subscribers: its count, kept in step by the listener. */
interface Tracked {
  /** Subscriptions holding it (acquire/release). */
  refs: number;
  /** Events counted so far; while `counting`, only those applied after the count's position. */
  version: number;
  counting: boolean;
  ready: Promise<void>;
}

/** What the versions need of the server: the store's count and the position state has reached. */
export interface VersionSources {
  store: Pick<EventStore, 'countHistory'>;
  /** Position of the last persisted event applied to state and seen by writer listeners (Writer.position). */
  appliedPosition: () => number;
  isPersistent: (itemType: string) => boolean;
  state: StateReader;
  log: Logger;
}

/**
 * EventRPC aggregate versions and event streams, fed by a writer listener.
 *
 * Definition (docs/PROTOCOLS.md): the version of a persisted aggregate
 * `ITEMTYPE/ID` is the number of its events in the log, every SET and DEL of
 * it, including a SET equal to the stored item (stored, though it changes
 * nothing). Every cluster member reads the same log, so all agree, and the
 * number survives a restart.
 *
 * How: the first subscription to an aggregate counts its events in the store
 * (`countHistory`, one index range scan) up to the position state has
 * reached; events applied after that position, while the count is in flight
 * or later, are added by the listener. The count is dropped when the last
 * subscription to the aggregate ends (a later one counts again), so memory
 * is one entry per watched aggregate.
 *
 * Ephemeral types (not persisted) have no log: their version is the number of
 * changes to the item this member has applied since it started (ephemeral
 * state starts empty too). A SET equal to the current item is not stored
 * anywhere and does not count; the count of a deleted item is dropped, so a
 * re-created one starts again at 1. Cluster members that started at different
 * times may differ.
 *
 * The listener must run before the live engine's, so an update built while
 * a batch is delivered reads the version that includes it: the endpoint puts
 * it first in `writer.listeners`.
 */
export class AggregateVersions {
  private readonly tracked = new Map<string, Tracked>();
  /** Ephemeral items' change counts since start (deleted ones dropped). */
  private readonly ephemeral = new Map<string, number>();
  private readonly watchers = new Map<string, Set<EventWatcher>>();

  constructor(private readonly src: VersionSources) {}

  readonly listener = (changes: readonly Change[], stored: readonly StoredEvent[]): void => {
    if (this.tracked.size > 0) {
      for (const e of stored) {
        const key = keyOf(e.itemType, e.item.id);
        const t = this.tracked.get(key);
        if (!t) continue;
        t.version++;
        if (!t.counting) this.notify(key, e, t.version);
      }
    }
    for (const c of changes) {
      if (c.event.position !== 0 || c.derived) continue; // persisted: counted from `stored`, no-op SETs included; derived: no event of its own
      const key = keyOf(c.itemType, c.id);
      const version = (this.ephemeral.get(key) ?? (c.prev !== undefined ? 1 : 0)) + 1;
      if (c.next === undefined) this.ephemeral.delete(key);
      else this.ephemeral.set(key, version);
      this.notify(key, c.event, version);
    }
  };

  /**
   * Hold the version of one aggregate; resolves once `version` is exact.
   * Rejects (holding nothing) when the store cannot count. Pair with `release`.
   */
  acquire(itemType: string, id: string): Promise<void> {
    if (!this.src.isPersistent(itemType)) return Promise.resolve();
    const key = keyOf(itemType, id);
    const existing = this.tracked.get(key);
    if (existing) {
      existing.refs++;
      return existing.ready;
    }
    // Every event up to `upTo` is in state and was seen by the listeners; events after it reach the
    // listener after this line (the writer and the cluster tailer apply in log order), so count + listener = all.
    const upTo = this.src.appliedPosition();
    const t: Tracked = { refs: 1, version: 0, counting: true, ready: Promise.resolve() };
    this.tracked.set(key, t);
    t.ready = this.src.store.countHistory(itemType, id, upTo).then(
      (n) => {
        t.version += n;
        t.counting = false;
      },
      (err: Error) => {
        if (this.tracked.get(key) === t) this.tracked.delete(key);
        throw err;
      },
    );
    return t.ready;
  }

  release(itemType: string, id: string): void {
    if (!this.src.isPersistent(itemType)) return;
    const key = keyOf(itemType, id);
    const t = this.tracked.get(key);
    if (t && --t.refs <= 0) this.tracked.delete(key);
  }

  /** The aggregate's version: exact for a persisted one once `acquire` has resolved. */
  version(itemType: string, id: string): number {
    const key = keyOf(itemType, id);
    if (this.src.isPersistent(itemType)) return this.tracked.get(key)?.version ?? 0;
    return this.ephemeral.get(key) ?? (this.src.state.get(itemType, id) ? 1 : 0);
  }

  /** Watch the events of one aggregate (persisted ones: while acquired); returns the function that stops watching. */
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

  /** Aggregates whose count is held (for tests and metrics). */
  get trackedCount(): number {
    return this.tracked.size;
  }

  private notify(key: string, event: StoredEvent, version: number): void {
    if (this.watchers.size === 0) return;
    const ws = this.watchers.get(key);
    if (!ws) return;
    for (const w of [...ws]) {
      try {
        w(event, version);
      } catch (err) {
        this.src.log.error({ err }, 'event subscriber failed');
      }
    }
  }
}

function keyOf(itemType: string, id: string): string {
  return `${itemType}\u0000${id}`;
}
