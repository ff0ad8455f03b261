import { Type, type Static } from '@sinclair/typebox';
import { MItemSchema, type MItem } from './item.js';

/** An enum (not a union of literals) so a wrong value is reported as `must be one of ["SET","DEL"]`. */
export const ChangeTypeSchema = Type.Unsafe<'SET' | 'DEL'>({ type: 'string', enum: ['SET', 'DEL'] });
export type ChangeType = Static<typeof ChangeTypeSchema>;

/**
 * `ws:m:event` data: an MEvent. `createdAt` defaults to now and `tx` to a
 * fresh uuid; seed-dialect clients add `clientId`. `null` in `createdAt`,
 * `tx` or `sourceId` means absent (WIRE.md 6.1: the TouchDesigner executor
 * sends `"sourceId": null` in every event). `options` (older clients:
 * `{preventRelationshipUpdates?, preventPersist?, fromPeer?}`) is accepted
 * and ignored, as the reference server does for client events.
 */
export const MEventSchema = Type.Object(
  {
    item: MItemSchema,
    itemType: Type.String({ minLength: 1 }),
    changeType: ChangeTypeSchema,
    createdAt: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
    tx: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    sourceId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    clientId: Type.Optional(Type.String()),
    options: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
);
export type MEvent<T extends MItem = MItem> = Omit<Static<typeof MEventSchema>, 'item'> & { item: T };

/** `ws:m:event-batch` data: MEvent[] (a `{events: MEvent[]}` object is accepted too). */
export const MEventBatchSchema = Type.Array(MEventSchema);
