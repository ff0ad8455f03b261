import { Type, type Static } from '@sinclair/typebox';
import type { MWrappedItem } from './item.js';

export const WindowSchema = Type.Object(
  {
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type QueryWindow = Static<typeof WindowSchema>;

/** `ws:m:query` data: an MWrappedQuery, optionally windowed. */
export const MQuerySchema = Type.Object(
  {
    queryId: Type.String({ minLength: 1 }),
    queryItemType: Type.String({ minLength: 1 }),
    query: Type.Object({ tx: Type.String({ minLength: 1 }) }, { additionalProperties: true }),
    window: Type.Optional(Type.Union([WindowSchema, Type.Null()])),
    clientId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type MQuery = Static<typeof MQuerySchema>;

/** `ws:m:query-window` data: move (or, with no window, remove) a live query's window. */
export const MQueryWindowSchema = Type.Object(
  {
    tx: Type.String({ minLength: 1 }),
    window: Type.Optional(Type.Union([WindowSchema, Type.Null()])),
  },
  { additionalProperties: true },
);
export type MQueryWindow = Static<typeof MQueryWindowSchema>;

/** Current-dialect `ws:m:query-response` data. */
export interface QueryDiff<T = MWrappedItem> {
  tx: string;
  sequence: number;
  upserts: T[];
  deletes: string[];
  totalCount: number;
  window?: QueryWindow;
}

export interface QueryErrorData {
  tx: string;
  queryId: string;
  message: string;
}
