import { Type, type Static } from '@sinclair/typebox';
import { WindowSchema } from './query.js';

/**
 * `ws:m:view` data (WIRE.md 6.3): a server-defined live query. `viewItemType`
 * names the type of the items the view builds (often one never stored); the
 * server takes it from the view's definition, so it may be left out.
 */
export const MViewSchema = Type.Object(
  {
    viewId: Type.String({ minLength: 1 }),
    viewItemType: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    view: Type.Object({ tx: Type.String({ minLength: 1 }) }, { additionalProperties: true }),
    window: Type.Optional(Type.Union([WindowSchema, Type.Null()])),
    clientId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type MView = Static<typeof MViewSchema>;

export interface ViewErrorData {
  tx: string;
  viewId: string;
  message: string;
}
