import { Kind, type MEvent, type MItem } from '@myko/protocol';
import type { WireFrame } from './codec.js';

/**
 * Events (`set`/`del`) wait for the end of the current microtask and leave
 * as `ws:m:event-batch` frames of at most `maxBatch` events: a loop of a
 * thousand `set` calls costs four frames, not a thousand. Types marked
 * immediate go at once as one `ws:m:event`, after whatever is pending, so the
 * order of events is never changed.
 */
export class EventBatcher {
  private pending: MEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly maxBatch: number,
    private readonly immediate: ReadonlySet<string>,
    private readonly send: (frame: WireFrame) => void,
  ) {}

  /** Frames the pending events will take. */
  get pendingFrames(): number {
    return Math.ceil(this.pending.length / this.maxBatch);
  }

  /**
   * Frames the pending events take once one more of `itemType` is added: an
   * immediate type adds a frame of its own, any other usually joins the last
   * batch. (Counting whole frames per event refused a second `set` in a tick
   * when one frame of room was left, though both fit in it.)
   */
  framesWith(itemType: string): number {
    if (this.immediate.has(itemType)) return this.pendingFrames + 1;
    return Math.ceil((this.pending.length + 1) / this.maxBatch);
  }

  add(event: MEvent<MItem>): void {
    if (this.immediate.has(event.itemType)) {
      this.flush();
      this.send({ event: Kind.Event, data: event });
      return;
    }
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Send what is pending now. Called before any other frame leaves, so nothing overtakes an event. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    for (let i = 0; i < events.length; i += this.maxBatch)
      this.send({ event: Kind.EventBatch, data: events.slice(i, i + this.maxBatch) });
  }

  clear(): void {
    this.pending = [];
  }
}
