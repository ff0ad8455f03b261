import { builtinQueryIds, canonicalJson, countReportId, type MItem, type QueryWindow } from '@myko/protocol';

/**
 * What the client needs of an item type: an `id`. Plain interfaces qualify
 * (an `MItem` constraint would demand an index signature of them).
 */
export interface ItemLike {
  id: string;
}

/**
 * A live query as the app names it. On the wire it becomes
 * `ws:m:query {queryId, queryItemType, query: {tx, ...params}, window?}`.
 * `T` is the item type the results carry; it exists only for the compiler.
 */
export interface QuerySpec<T extends ItemLike = MItem> {
  queryId: string;
  queryItemType: string;
  params?: Record<string, unknown>;
  /** Only this slice of the result, ids in lexicographic order; `totalCount` tells the full size. */
  window?: QueryWindow | undefined;
  /** Type carrier, never set. */
  readonly __item?: T;
}

/** A live report: `ws:m:report {reportId, report: {tx, ...params}}`; `R` is its value's type. */
export interface ReportSpec<R = unknown> {
  reportId: string;
  params?: Record<string, unknown>;
  /** Type carrier, never set. */
  readonly __value?: R;
}

/** `GetAll${itemType}s`: every item of the type. */
export function getAll<T extends ItemLike = MItem>(itemType: string, window?: QueryWindow): QuerySpec<T> {
  return { queryId: builtinQueryIds(itemType).all, queryItemType: itemType, ...(window ? { window } : {}) };
}

/** `Get${itemType}sByIds {ids}`: the items with these ids (those that exist). */
export function byIds<T extends ItemLike = MItem>(itemType: string, ids: readonly string[], window?: QueryWindow): QuerySpec<T> {
  return { queryId: builtinQueryIds(itemType).byIds, queryItemType: itemType, params: { ids: [...ids] }, ...(window ? { window } : {}) };
}

/** `Get${itemType}sByQuery {field: value, ...}`: the items whose fields equal these values. */
export function byQuery<T extends ItemLike = MItem>(
  itemType: string,
  fields: Partial<T> | Record<string, unknown>,
  window?: QueryWindow,
): QuerySpec<T> {
  return { queryId: builtinQueryIds(itemType).byQuery, queryItemType: itemType, params: { ...fields }, ...(window ? { window } : {}) };
}

/** `Get${itemType}sCount`: the live number of items of the type. */
export function countOf(itemType: string): ReportSpec<number> {
  return { reportId: countReportId(itemType), params: {} };
}

/** Two specs with the same key share one server subscription. */
export function queryKey(q: QuerySpec<ItemLike>): string {
  return canonicalJson([q.queryId, q.queryItemType, q.params ?? {}, q.window ?? null]);
}

export function reportKey(r: ReportSpec<unknown>): string {
  return canonicalJson([r.reportId, r.params ?? {}]);
}
