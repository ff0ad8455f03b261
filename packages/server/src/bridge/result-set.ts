import type { MItem } from '@myko/protocol';
import { sortedInsert, sortedRemove } from '../live/sorted-ids.js';

/**
 * The client-side copy of one live query, kept by a protocol bridge: the
 * Myko diff frames (sequence 0 = whole result, then upserts/deletes) folded
 * into a map, with the ids kept in lexicographic order so a whole-result
 * protocol can send "all items sorted by id" without sorting each time.
 */
export class ResultSet {
  private readonly byId = new Map<string, MItem>();
  private readonly ids: string[] = [];
  /** The whole result's size, as the last response said (a windowed query holds only a slice). */
  totalCount = 0;

  /** Fold one `ws:m:query-response` (current dialect) into the copy. */
  apply(sequence: number, upserts: readonly { item: MItem }[], deletes: readonly string[], totalCount?: number): void {
    if (sequence === 0) {
      this.byId.clear();
      this.ids.length = 0;
    }
    for (const id of deletes) {
      if (this.byId.delete(id)) sortedRemove(this.ids, id);
    }
    for (const { item } of upserts) {
      if (!this.byId.has(item.id)) sortedInsert(this.ids, item.id);
      this.byId.set(item.id, item);
    }
    this.totalCount = totalCount ?? this.ids.length;
  }

  get size(): number {
    return this.ids.length;
  }

  get(id: string): MItem | undefined {
    return this.byId.get(id);
  }

  /** Every item, sorted by id (UTF-16 code unit order, as query windows are). */
  values(): MItem[] {
    return this.ids.map((id) => this.byId.get(id)!);
  }
}
