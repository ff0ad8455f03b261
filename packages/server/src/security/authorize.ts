import { ErrorCode } from '@myko/protocol';
import { EventRejected, type Origin } from '../core/normalize.js';
import type { NewEvent } from '../store/event-store.js';
import type { Permissions } from './permissions.js';
import type { Ownership } from './ownership.js';

/** MYKO_FORBIDDEN because another live client owns the item: `owner` names it (for the owner challenge, gateway/owner-challenge.ts). */
export class OwnerConflict extends EventRejected {
  override name = 'OwnerConflict';
  constructor(
    message: string,
    index: number | undefined,
    readonly owner: string,
  ) {
    super(message, index, ErrorCode.Forbidden);
  }
}

/** Types only the server writes: clients may not forge connections, members or restore points. */
const serverManaged = new Set(['Client', 'Server', 'RestorePoint']);

/**
 * Every client write, from any protocol, passes here (ServerContext.emit):
 * server-managed types, permission rules by claims, then ownership. Server
 * code (no clientId) and command handlers (trusted: the command was checked)
 * are not re-checked. Throws EventRejected with MYKO_FORBIDDEN.
 */
export function authorizeEvents(events: readonly NewEvent[], origin: Origin, permissions: Permissions, ownership: Ownership): void {
  if (origin.clientId === undefined || origin.trusted) return;
  const many = events.length > 1;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const index = many ? i : undefined;
    if (serverManaged.has(e.itemType)) throw new EventRejected(`${where(e, index)}: ${e.itemType} items are managed by the server`, index, ErrorCode.Forbidden);
    if (!permissions.canWrite(e.itemType, e.changeType, origin.claims))
      throw new EventRejected(`${where(e, index)}: not permitted to ${e.changeType} ${e.itemType}`, index, ErrorCode.Forbidden);
    const owner = ownership.otherLiveOwner(e.itemType, e.item.id, origin.clientId);
    if (owner && !permissions.canOverrideOwnership(origin.claims))
      throw new OwnerConflict(`${where(e, index)} belongs to client ${owner}, which is connected: only it may change it`, index, owner);
  }
}

/** How a refusal names the event: made only then, not for every event accepted. */
const where = (e: NewEvent, index: number | undefined) => (index !== undefined ? `events[${index}] (${e.itemType} ${e.item.id})` : `${e.itemType} ${e.item.id}`);
