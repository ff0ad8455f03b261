import type { Registry } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import type { StoredEvent } from '../store/event-store.js';
import type { Change } from '../core/state.js';
import { itemKey } from '../core/identity.js';

/**
 * Who owns an item, for the default rule "a client may not modify or delete
 * items that another live client owns". An item is owned by:
 * - the client its type's owner field names (Instance.clientId, ...), or
 * - for types declared `claimedByWriter` (an executor's Targets, Actions,
 *   Emitters, Pulses), the client that last wrote it.
 * Ownership lapses when that client is gone (its Client item deleted).
 */
export class Ownership {
  private readonly writers = new Map<string, string>();

  constructor(
    private readonly registry: Registry,
    private readonly state: StateReader,
  ) {}

  /** Writer listener: remember the last writing client of claimed types (ephemeral ones too, e.g. Pulse). */
  onChanges(changes: readonly Change[]): void {
    for (const c of changes) this.note(c.event);
  }

  /**
   * Follow one event: the writer of a claimed item becomes its owner; a DEL ends the claim. Boot calls it
   * too, for the loaded state and the replayed tail: without that a cluster member started later would not
   * protect targets an executor on another member registered earlier (still live, so still their owner).
   */
  note(e: Pick<StoredEvent, 'itemType' | 'item' | 'changeType' | 'clientId'>): void {
    if (!this.registry.itemType(e.itemType)?.def.claimedByWriter) return;
    const key = itemKey(e.itemType, e.item.id);
    if (e.changeType === 'DEL') this.writers.delete(key);
    else if (e.clientId) this.writers.set(key, e.clientId);
  }

  /** The live client owning this item, when it is not `clientId`. */
  otherLiveOwner(itemType: string, id: string, clientId: string): string | undefined {
    const def = this.registry.itemType(itemType)?.def;
    let owner: string | undefined;
    if (def?.owner) {
      const current = this.state.get(itemType, id);
      const v = current?.[def.owner.field];
      owner = typeof v === 'string' ? v : undefined;
    }
    if (!owner && def?.claimedByWriter) owner = this.writers.get(itemKey(itemType, id));
    if (!owner || owner === clientId) return undefined;
    return this.state.get('Client', owner) ? owner : undefined;
  }
}
