import type { MItem } from '@myko/protocol';
import type { DerivedFields, EventStore } from '../store/event-store.js';
import type { Logger } from '../logger.js';
import type { State } from './state.js';
import type { StoredEvent } from '../store/event-store.js';
import type { Writer } from './writer.js';
import { ItemMap } from './item-map.js';

/**
 * Keeps boot fast as the log grows: saves the items changed since the last
 * checkpoint (not the whole state) with the log position they reflect. Boot
 * loads that and replays only the events after it. A checkpoint runs between
 * two writer batches, so the state it reads is exactly the state at its
 * position.
 */
export class Checkpointer {
  /** The items to save, by key alone (no object per item: a replay dirties every item of the log). */
  private dirty = new ItemMap<true>();
  private timer: NodeJS.Timeout | undefined;
  private queued = false;
  private replace = false;
  /** Position of the last saved checkpoint. */
  position = 0;
  /**
   * Entries the saved snapshot holds, superseded ones included (Checkpoint.entries), where the store
   * counts them (SQLite's segments): undefined, no compaction.
   */
  entries: number | undefined;
  /**
   * A compaction under way. Each checkpoint adds what changed to the snapshot, so an item changed
   * often is in it many times; once the entries are more than twice the items (plus `every`, so a small
   * state does not compact at every checkpoint),
   * every item is written once more, a slice of `every` per checkpoint (no checkpoint grows past
   * twice its size, so none holds the writer long), and the checkpoint that writes the last slice
   * drops every segment saved before the first (CheckpointDelta.dropBefore): all superseded.
   */
  private compaction: { keys: Iterator<[string, string]>; from: number } | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly state: State,
    private readonly writer: Writer,
    private readonly every: number,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Every persisted event dirties its item: its state may have changed, its leaf did. So does an item
   * changed through a reverse reference (core/backrefs.ts: a Target's actionIds when an Action comes or
   * goes), which no event of its own dirties: saved stale, its list would bring a deleted Action back.
   */
  onStored(stored: readonly StoredEvent[], derived: readonly { itemType: string; id: string }[] = []): void {
    // Keys only: an object per entry lived until the checkpoint (a boot's replay: the whole log),
    // long enough to be promoted, and then was garbage for a full collection.
    for (const e of stored) this.dirty.set(e.itemType, e.item.id, true);
    for (const d of derived) this.dirty.set(d.itemType, d.id, true);
    if (this.dirty.size >= this.every) this.request();
    else if (this.dirty.size > 0 && !this.timer)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.request();
      }, this.intervalMs).unref();
  }

  /** Boot, after replaying the whole log: every item it holds is to be saved. */
  dirtyAll(items: ItemMap<unknown>): void {
    items.forEach((itemType, id) => this.dirty.set(itemType, id, true));
    if (this.dirty.size > 0) this.request();
  }

  /**
   * Boot discarded the saved checkpoint (it did not match the log, or its rows their digest): the next
   * save replaces the whole snapshot instead of updating it, so no row of the bad one survives. Boot
   * replays the whole log then, and every item it touched is dirty, so that save holds all of state.
   */
  rewriteAll(): void {
    this.replace = true;
  }

  /**
   * Boot: the reverse-reference fields the loaded checkpoint declares (Checkpoint.derived). When they are not this
   * server's (a checkpoint saved before they were recorded, or with other plugins), the next save records
   * them even with nothing else to write, and one is requested now: `myko verify` reads them.
   */
  checkDerived(saved: DerivedFields | undefined): void {
    if (JSON.stringify(saved ?? {}) === JSON.stringify(this.state.backrefs?.fields() ?? {})) return;
    this.derivedStale = true;
    this.request();
  }

  private derivedStale = false;

  /** Save now (between batches), e.g. at shutdown. */
  async flush(): Promise<void> {
    await this.writer.idle();
    await this.saving;
    await this.save();
  }

  /** A save handed to a store that orders its writes, still being written (see request). */
  private saving: Promise<void> | undefined;

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private request(): void {
    if (this.queued) return;
    this.queued = true;
    this.writer.exclusive(async () => {
      this.queued = false;
      // One save at a time: a failed one puts its items back in `dirty`, which the next must then hold.
      await this.saving;
      // The delta is read from state here, between two batches; `save` hands it to the store before
      // its first await. A store that writes in call order (SQLite's one connection) then lets the
      // writer append the next batch without waiting for the checkpoint's rows to be written: the
      // store writes them first, and the event loop has nothing to wait for.
      const saving = this.save();
      if (!this.store.ordersWrites) return saving;
      const tracked: Promise<void> = saving.finally(() => {
        if (this.saving === tracked) this.saving = undefined;
      });
      this.saving = tracked;
    });
  }

  /**
   * Adds this checkpoint's slice of a compaction to `keys`, starting one when the snapshot is mostly
   * superseded entries. Returns the position to drop segments below once the slice is the last one.
   */
  private compactionSlice(keys: ItemMap<true>, position: number): number | undefined {
    const all = this.writer.identity.leaves; // every item a full snapshot holds, deleted ones included
    if (this.entries === undefined) return undefined;
    if (!this.compaction && this.entries + keys.size >= 2 * all.size + this.every) this.compaction = { keys: all.keys(), from: position };
    if (!this.compaction) return undefined;
    for (let n = 0; n < this.every; n++) {
      const next = this.compaction.keys.next();
      if (next.done) return this.compaction.from;
      keys.set(next.value[0], next.value[1], true);
    }
    return undefined;
  }

  private async save(): Promise<void> {
    const position = this.writer.position;
    if (this.dirty.size === 0 && position === this.position && !this.replace && !this.derivedStale) return;
    const replace = this.replace;
    const keys = this.dirty;
    this.dirty = new ItemMap();
    const dropBefore = replace ? undefined : this.compactionSlice(keys, position);
    const upserts: { itemType: string; item: MItem; pids: string[] }[] = [];
    const deletes: { itemType: string; id: string; pids: string[] }[] = [];
    const leaves = this.writer.identity.leaves;
    keys.forEach((itemType, id) => {
      const item = this.state.get(itemType, id);
      const pids = leaves.get(itemType, id) ?? [];
      if (item) upserts.push({ itemType, item, pids });
      else deletes.push({ itemType, id, pids });
    });
    try {
      const entries = await this.store.saveCheckpoint({
        ...(replace ? { replace } : {}),
        ...(dropBefore !== undefined ? { dropBefore } : {}),
        position,
        eventId: this.writer.lastEventId,
        chain: this.writer.identity.chain,
        upserts,
        deletes,
        derived: this.state.backrefs?.fields() ?? {},
      });
      this.position = position;
      this.entries = entries;
      this.derivedStale = false;
      if (replace) this.replace = false;
      if (replace || dropBefore !== undefined) this.compaction = undefined;
    } catch (err) {
      // Keep them dirty: the next checkpoint retries. Boot replays from the last good one.
      keys.forEach((itemType, id) => this.dirty.set(itemType, id, true));
      this.log.error({ err }, 'checkpoint failed');
    }
  }
}
