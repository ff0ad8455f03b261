import { Type, type Static } from '@sinclair/typebox';

/** MItem: the smallest unit; `id` opaque, `hash` optional on the way in (WIRE.md 1.5; `null` = absent: computed). */
export const MItemSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    hash: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: true },
);
export type MItem = Static<typeof MItemSchema> & Record<string, unknown>;

/** MWrappedItem: an item with its type name. */
export interface MWrappedItem<T extends MItem = MItem> {
  itemType: string;
  item: T;
}
