import { builtinQueryIds, canonicalJson, countReportId, type MItem, type QueryWindow } from '@myko/protocol';

/**
 * What the client needs of an item type: an `id`. Plain interfaces qualify
 * (an `MItem` constraint would demand an index signature of them).
 */
export interface ItemLike {
  id: string;
}

/**
 * An item type's name with its TypeScript type attached, declared once:
 * `const Cue = itemType<Cue>('Cue')`. Then `client.set(Cue, item)` checks
 * `item` against `Cue`, and `getAll(Cue)` / `byIds(Cue, ...)` /
 * `byQuery(Cue, ...)` carry `Cue` to the results. A plain string still works
 * everywhere (untyped unless a type argument is given).
 */
export interface ItemTypeRef<T extends ItemLike = MItem> {
  readonly name: string;
  /** Type carrier, never set. */
  readonly __item?: T;
}

export function itemType<T extends ItemLike = MItem>(name: string): ItemTypeRef<T> {
  if (typeof name !== 'string' || name === '') throw new TypeError('an item type needs a non-empty name');
  return Object.freeze({ name });
}

/** The wire name of an item type given either way. */
export function typeName(t: string | ItemTypeRef<ItemLike>): string {
  return typeof t === 'string' ? t : t.name;
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

/**
 * A live view (WIRE.md 6.3): a server-defined query that builds its own items
 * (often of a type never stored). On the wire:
 * `ws:m:view {viewId, viewItemType, view: {tx, createdAt, ...params}, window?}`.
 */
export interface ViewSpec<T extends ItemLike = MItem> {
  viewId: string;
  viewItemType: string;
  params?: Record<string, unknown>;
  /** Only this page of the view (ids in order); `totalCount` tells the full size. */
  window?: QueryWindow | undefined;
  /** Type carrier, never set. */
  readonly __item?: T;
}

/** `view<TargetView>('GetTargetViews', 'TargetView', {serviceId})`: a ViewSpec with its item type attached. */
export function view<T extends ItemLike = MItem>(
  viewId: string,
  viewItemType: string | ItemTypeRef<T>,
  params?: Record<string, unknown>,
  window?: QueryWindow,
): ViewSpec<T> {
  return { viewId, viewItemType: typeName(viewItemType), ...(params ? { params: { ...params } } : {}), ...(window ? { window } : {}) };
}

/** A view held in query form by the shared machinery (queries.ts). */
export function viewAsQuery<T extends ItemLike>(v: ViewSpec<T>): QuerySpec<T> {
  return { queryId: v.viewId, queryItemType: v.viewItemType, params: v.params ?? {}, window: v.window };
}

/** A live report: `ws:m:report {reportId, report: {tx, ...params}}`; `R` is its value's type. */
export interface ReportSpec<R = unknown> {
  reportId: string;
  params?: Record<string, unknown>;
  /** Type carrier, never set. */
  readonly __value?: R;
}

/** `GetAll${itemType}s`: every item of the type. */
export function getAll<T extends ItemLike = MItem>(itemType: string | ItemTypeRef<T>, window?: QueryWindow): QuerySpec<T> {
  const t = typeName(itemType);
  return { queryId: builtinQueryIds(t).all, queryItemType: t, ...(window ? { window } : {}) };
}

/** `Get${itemType}sByIds {ids}`: the items with these ids (those that exist). */
export function byIds<T extends ItemLike = MItem>(itemType: string | ItemTypeRef<T>, ids: readonly string[], window?: QueryWindow): QuerySpec<T> {
  const t = typeName(itemType);
  return { queryId: builtinQueryIds(t).byIds, queryItemType: t, params: { ids: [...ids] }, ...(window ? { window } : {}) };
}

/** `Get${itemType}sByQuery {field: value, ...}`: the items whose fields equal these values. */
export function byQuery<T extends ItemLike = MItem>(
  itemType: string | ItemTypeRef<T>,
  fields: Partial<T> | Record<string, unknown>,
  window?: QueryWindow,
): QuerySpec<T> {
  const t = typeName(itemType);
  return { queryId: builtinQueryIds(t).byQuery, queryItemType: t, params: { ...fields }, ...(window ? { window } : {}) };
}

/** `Get${itemType}sCount`: the live number of items of the type. */
export function countOf(itemType: string | ItemTypeRef<ItemLike>): ReportSpec<number> {
  return { reportId: countReportId(typeName(itemType)), params: {} };
}

/** Two specs with the same key share one server subscription. */
export function queryKey(q: QuerySpec<ItemLike>): string {
  return canonicalJson([q.queryId, q.queryItemType, q.params ?? {}, q.window ?? null]);
}

export function reportKey(r: ReportSpec<unknown>): string {
  return canonicalJson([r.reportId, r.params ?? {}]);
}
