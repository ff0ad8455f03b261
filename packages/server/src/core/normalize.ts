import { randomUUID } from 'node:crypto';
import { copyWith, type MItem } from '@myko/protocol';
import type { NewEvent } from '../store/event-store.js';
import type { Registry } from './registry.js';
import { hashItem, lastDataHash } from './hash.js';
import { EVENT_DHASH, EVENT_DHASH_OF, type CarriesDataHash } from './identity.js';

/** Where an event came from: fills what the sender left out. */
export interface Origin {
  serverId: string;
  /** The sending connection; undefined for server-internal events. */
  clientId?: string;
  /** The sender's token claims, for permission rules. */
  claims?: Record<string, unknown> | undefined;
  /** Emitted by server code on a client's behalf (a command handler): permission rules were applied to the command. */
  trusted?: boolean;
}

/** An event that is well-formed on the wire but not acceptable (e.g. its item type's validator says no). */
export class EventRejected extends Error {
  override name = 'EventRejected';
  constructor(
    message: string,
    readonly index?: number,
    /** MYKO_BAD_EVENT, MYKO_FORBIDDEN when permissions refuse it, MYKO_WOUND_BACK from a wound-back client. */
    readonly code: 'MYKO_BAD_EVENT' | 'MYKO_FORBIDDEN' | 'MYKO_WOUND_BACK' = 'MYKO_BAD_EVENT',
  ) {
    super(message);
  }
}

export interface RawEvent {
  item: MItem;
  itemType: string;
  changeType: 'SET' | 'DEL';
  /** `null` = absent (WIRE.md 6.1), for these three. */
  createdAt?: string | null;
  tx?: string | null;
  sourceId?: string | null;
}

/**
 * Validate against the item type and fill defaults:
 * - `hash` computed when absent (WIRE.md 1.5), kept when given;
 * - `createdAt` stamped now when absent, checked when given;
 * - `tx` a fresh uuid when absent; `sourceId` this server when absent;
 * - an owned type's owner field set to the sender's clientId when absent
 *   (current-dialect clients never learn their id; WIRE.md 1.1).
 * Throws EventRejected; never mutates the input.
 */
export function normalizeEvent(raw: RawEvent, origin: Origin, registry: Registry, index?: number): NewEvent {
  let createdAt = raw.createdAt;
  if (createdAt === undefined || createdAt === null) createdAt = new Date().toISOString();
  else if (!isDate(createdAt)) throw new EventRejected(`${where(index)}.createdAt must be an ISO 8601 date-time, got ${JSON.stringify(createdAt)}`, index);

  // A lone surrogate (JSON can carry "\ud800") has no UTF-8 form: the store's item_type and
  // item_id columns would hold U+FFFD instead, so `myko verify` failed on the event, and two
  // ids differing only there shared one checkpoint row (one item lost at the next boot).
  if (loneSurrogate.test(raw.itemType)) throw new EventRejected(`${where(index)}.itemType must be well-formed Unicode (it holds a lone surrogate)`, index);
  if (loneSurrogate.test(raw.item.id)) throw new EventRejected(`${where(index)}.item.id must be well-formed Unicode (it holds a lone surrogate)`, index);

  let item = raw.item;
  let dHash: string | undefined;
  // Hashing, event identity, equality and storage all walk the item recursively:
  // a deeply nested item (100 KB of `[[[...]]]` is enough) would overflow the
  // stack there, past validation; in the writer that crashed the process.
  // Refuse it here, as a bad event, before anything recursive sees it.
  if (nestsDeeperThan(item, maxItemDepth))
    throw new EventRejected(`${where(index)}.item nests deeper than ${maxItemDepth} levels of objects and arrays`, index);
  const type = registry.itemType(raw.itemType);
  if (raw.changeType === 'SET') {
    const ownerField = type?.def.owner?.field;
    if (ownerField && origin.clientId && (item[ownerField] === undefined || item[ownerField] === null || item[ownerField] === ''))
      item = copyWith(item, ownerField, origin.clientId);
    if (type) {
      const problem = type.check(item);
      if (problem) throw new EventRejected(`${where(index)} (${raw.itemType} ${item.id}): ${problem}`, index);
    }
    if (typeof item.hash !== 'string' || item.hash === '') {
      // An ephemeral event is never stored: its dHash would never be used.
      item = hashItem(item, registry.isPersistent(raw.itemType));
      dHash = lastDataHash();
    }
  }

  // Every event made here has one shape: the dHash slots are there (undefined) when it was not computed.
  const out: NewEvent & CarriesDataHash = {
    itemType: raw.itemType,
    changeType: raw.changeType,
    item,
    createdAt,
    tx: raw.tx || randomUUID(),
    sourceId: raw.sourceId || origin.serverId,
    [EVENT_DHASH]: dHash,
    [EVENT_DHASH_OF]: dHash === undefined ? undefined : item,
  };
  if (origin.clientId !== undefined) out.clientId = origin.clientId;
  return out;
}

/** How a refusal names the event: made only then, not for every event accepted. */
const where = (index: number | undefined) => (index === undefined ? 'event' : `events[${index}]`);

/**
 * Date.parse accepts it. The last accepted text is remembered: a batch's events mostly share one
 * createdAt (a client's frame), and a string comparison is cheaper than parsing a date.
 */
let lastDate: string | undefined;
function isDate(text: string): boolean {
  if (text === lastDate) return true;
  if (Number.isNaN(Date.parse(text))) return false;
  lastDate = text;
  return true;
}

/** In a `u` regex a surrogate pair is one code point: only lone surrogates match. */
const loneSurrogate = /\p{Cs}/u;

/** Far deeper than any real item; far shallower than the stack the recursive walks of an item need. */
export const maxItemDepth = 256;

/**
 * Iterative, so it is safe on exactly the values it exists to refuse. A flat item (no object or
 * array among its values, the common case) is answered without allocating the walk's stacks.
 */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit >= 1 && isFlat(value)) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as Record<string, unknown>;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    for (const k in v) {
      const child = v[k];
      if (typeof child === 'object' && child !== null) values.push(child), depths.push(depth + 1);
    }
  }
  return false;
}

function isFlat(v: object): boolean {
  for (const k in v) {
    const child = (v as Record<string, unknown>)[k];
    if (typeof child === 'object' && child !== null) return false;
  }
  return true;
}
