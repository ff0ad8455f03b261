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

/** `ws:m:query-cursor-window` data: keyset paging over the id order (WIRE.md 6.2). */
export const MQueryCursorWindowSchema = Type.Object(
  {
    tx: Type.String({ minLength: 1 }),
    window: Type.Object(
      {
        after: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        before: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        limit: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
);
export type MQueryCursorWindow = Static<typeof MQueryCursorWindowSchema>;

/** A keyset page: the `limit` ids after `after`, or before `before`, or the first `limit`. */
export interface CursorWindow {
  after?: string;
  before?: string;
  limit: number;
}

/**
 * The entry every response of a windowed subscription carries in `changes`
 * (WIRE.md 6.2): the visible page's ids in order. `total_count` is snake case
 * here (as the reference server writes it), `totalCount` at top level.
 * `window` is absent for a cursor window.
 */
export interface WindowOrderChange {
  kind: 'windowOrder';
  ids: string[];
  total_count: number;
  window?: QueryWindow;
}

/** Current-dialect `ws:m:query-response` (and `ws:m:view-response`) data. */
export interface QueryDiff<T = MWrappedItem> {
  tx: string;
  sequence: number;
  upserts: T[];
  deletes: string[];
  totalCount: number;
  window?: QueryWindow;
  /** Present on every response of a windowed subscription. */
  changes?: WindowOrderChange[];
}

export interface QueryErrorData {
  tx: string;
  queryId: string;
  message: string;
}
