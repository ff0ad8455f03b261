import type { MItem } from '@myko/protocol';
import type { StateReader } from '../core/state.js';
import { valueKey } from '../core/state.js';

/**
 * Current state plus the not-yet-committed events of the batch being
 * expanded: the cascade of a DEL must see a child SET earlier in the same
 * batch, and a later submission in the group must see an earlier one's
 * effects. Small by construction (one batch), so lookups scan it.
 */
export class Overlay implements StateReader {
  /** itemType → id → item, or null when deleted in the batch. */
  private readonly pending = new Map<string, Map<string, MItem | null>>();

  constructor(private readonly base: StateReader) {}

  set(itemType: string, item: MItem): void {
    this.slot(itemType).set(item.id, item);
  }

  del(itemType: string, id: string): void {
    this.slot(itemType).set(id, null);
  }

  get(itemType: string, id: string): MItem | undefined {
    const p = this.pending.get(itemType)?.get(id);
    return p === undefined ? this.base.get(itemType, id) : (p ?? undefined);
  }

  *all(itemType: string): IterableIterator<MItem> {
    const p = this.pending.get(itemType);
    for (const item of this.base.all(itemType)) if (!p?.has(item.id)) yield item;
    if (p) for (const item of p.values()) if (item) yield item;
  }

  count(itemType: string): number {
    let n = 0;
    for (const _ of this.all(itemType)) n++;
    return n;
  }

  *itemTypes(): IterableIterator<string> {
    const seen = new Set<string>();
    for (const t of this.base.itemTypes()) seen.add(t), yield t;
    for (const t of this.pending.keys()) if (!seen.has(t)) yield t;
  }

  lookup(itemType: string, field: string, value: unknown): ReadonlySet<string> {
    const p = this.pending.get(itemType);
    const base = this.base.lookup(itemType, field, value);
    if (!p) return base;
    const key = valueKey(value);
    const out = new Set<string>();
    for (const id of base) if (!p.has(id)) out.add(id);
    for (const [id, item] of p) if (item && valueKey(item[field]) === key) out.add(id);
    return out;
  }

  private slot(itemType: string): Map<string, MItem | null> {
    let m = this.pending.get(itemType);
    if (!m) this.pending.set(itemType, (m = new Map()));
    return m;
  }
}
