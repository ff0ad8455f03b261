// fast-deep-equal threw on objects with a member named toString or valueOf (see core/json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { MItem } from '@myko/protocol';
import type { QueryFilter } from '../core/registry.js';

/**
 * Query params → filter, for `GetXsByQuery`, the unknown-id fallback, the
 * `/models` and `/eventrpc` projections (they run the same queries) and the
 * ops API's `where` (WIRE.md 1.3, 6.2). One owner, so every protocol filters
 * alike.
 *
 * - A param whose value is `null` is no constraint (the reference server's v4
 *   query is a partial item with every field optional).
 * - `tx`, `createdAt`, `seq`, `userToken`, `clientId` are plumbing, never
 *   filters: the reference MykoClient re-sends a live query after a
 *   reconnect with `seq: 0` added.
 * - A plain value: the item's field must equal it (deep equality for objects).
 * - A v5 filter object `{kind, value}` (the reference server's
 *   `IdFilter`/`NumericFilter`/`StringFilter`/`EqFilter`, serde-tagged by
 *   `kind`, camelCase): `eq`, `in` (value: array), `range` (value:
 *   `{min?, max?}`, inclusive, numbers), `contains` and `startsWith` (value:
 *   string, case-sensitive, on string fields). For every kind but `eq`, an
 *   item whose field is absent or null never matches.
 *
 * An object param is read as a filter when it has a string `kind` and no
 * keys but `kind` and `value`; an unknown kind is an error (answered with
 * `ws:m:query-error`) rather than a silent equality on a shape no item has.
 */
export function paramFilter(params: Record<string, unknown>): QueryFilter {
  const eq: [string, unknown][] = [];
  const tests: ((item: MItem) => boolean)[] = [];
  for (const field of Object.keys(params)) {
    if (notFilters.has(field)) continue;
    const param = params[field];
    if (param === null || param === undefined) continue;
    const f = asFilterObject(param);
    if (!f) {
      eq.push([field, param]);
      continue;
    }
    const test = compileKind(field, f.kind, f.value, 'value' in f);
    if (test === 'eq') eq.push([field, f.value]);
    else tests.push(test);
  }
  const match = (item: MItem): boolean => {
    for (const [field, value] of eq) if (!equals(item[field], value)) return false;
    for (const t of tests) if (!t(item)) return false;
    return true;
  };
  // Only exact equalities are index hints (live/live-queries.ts routes a change by the hinted field's value).
  return eq.length > 0 ? { eq, match } : { match };
}

/** Request fields that are plumbing, not filter params (WIRE.md 6.2). */
export const notFilters: ReadonlySet<string> = new Set(['tx', 'createdAt', 'seq', 'userToken', 'clientId']);

/** The v5 kinds, for error messages and docs. */
export const filterKinds = ['eq', 'in', 'range', 'contains', 'startsWith'] as const;

function equals(v: unknown, value: unknown): boolean {
  return v === value || (typeof value === 'object' && value !== null && equal(v, value));
}

function asFilterObject(v: unknown): { kind: string; value?: unknown } | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.kind !== 'string') return undefined;
  for (const k in o) if (k !== 'kind' && k !== 'value') return undefined;
  return o as { kind: string; value?: unknown };
}

function compileKind(field: string, kind: string, value: unknown, hasValue: boolean): 'eq' | ((item: MItem) => boolean) {
  const where = `${field}: {kind: ${JSON.stringify(kind)}}`;
  if (!hasValue) throw new Error(`${where} needs a value`);
  switch (kind) {
    case 'eq':
      return 'eq';
    case 'in': {
      if (!Array.isArray(value)) throw new Error(`${where} needs value to be an array`);
      const scalars = new Set(value.filter((x) => typeof x !== 'object' || x === null));
      const objects = value.filter((x) => typeof x === 'object' && x !== null);
      // An empty set matches nothing, as the reference server's In([]).
      return (item) => {
        const v = item[field];
        if (v === undefined || v === null) return false;
        return scalars.has(v) || objects.some((o) => equal(v, o));
      };
    }
    case 'range': {
      const r = value as { min?: unknown; max?: unknown } | null;
      const bound = (b: unknown) => b === undefined || b === null || typeof b === 'number';
      if (typeof r !== 'object' || r === null || Array.isArray(r) || !bound(r.min) || !bound(r.max))
        throw new Error(`${where} needs value {min?: number, max?: number}`);
      const min = typeof r.min === 'number' ? r.min : -Infinity;
      const max = typeof r.max === 'number' ? r.max : Infinity;
      return (item) => {
        const v = item[field];
        return typeof v === 'number' && v >= min && v <= max;
      };
    }
    case 'contains':
    case 'startsWith': {
      if (typeof value !== 'string') throw new Error(`${where} needs value to be a string`);
      const starts = kind === 'startsWith';
      return (item) => {
        const v = item[field];
        return typeof v === 'string' && (starts ? v.startsWith(value) : v.includes(value));
      };
    }
    default:
      throw new Error(`${field}: unknown filter kind ${JSON.stringify(kind)} (known: ${filterKinds.join(', ')})`);
  }
}
