import { Kind, type Dialect, type MItem, type QueryWindow } from '@myko/protocol';
import { jsonFrameWithItems } from './item-json.js';

/**
 * Response frames per dialect (WIRE.md 1.1), in one place. The JSON builders
 * concatenate each item's JSON text, made once per item object and kept on it
 * (wire/item-json.ts), so a change fanned out to a thousand subscribers, or a
 * snapshot asked for again, is stringified once. Each JSON builder writes
 * exactly the bytes of JSON.stringify of its object builder (the CBOR path).
 */

export interface DiffParts {
  /** `query` → `ws:m:query-response`, `view` → `ws:m:view-response` (the same shape, WIRE.md 6.3). */
  kind: 'query' | 'view';
  tx: string;
  sequence: number;
  itemType: string;
  upserts: MItem[];
  deletes: string[];
  totalCount: number;
  /** An offset window; absent for a cursor page. */
  window: QueryWindow | undefined;
  /** Windowed: the visible page's ids in order, sent as the `windowOrder` change (WIRE.md 6.2). */
  order: string[] | undefined;
}

const responseEvent = (kind: 'query' | 'view') => (kind === 'view' ? Kind.ViewResponse : Kind.QueryResponse);

export function diffFrame(p: DiffParts): object {
  const data: Record<string, unknown> = {
    tx: p.tx,
    sequence: p.sequence,
    upserts: p.upserts.map((item) => ({ itemType: p.itemType, item })),
    deletes: p.deletes,
    totalCount: p.totalCount,
  };
  if (p.window) data.window = p.window;
  if (p.order) {
    const order: Record<string, unknown> = { kind: 'windowOrder', ids: p.order, total_count: p.totalCount };
    if (p.window) order.window = p.window;
    data.changes = [order];
  }
  return { event: responseEvent(p.kind), data };
}

/** The JSON of `diffFrame(p)`, byte for byte, as UTF-8. */
export function diffJson(p: DiffParts): Buffer {
  const window = p.window ? JSON.stringify(p.window) : undefined;
  return jsonFrameWithItems(
    `{"event":"${responseEvent(p.kind)}","data":{"tx":${JSON.stringify(p.tx)},"sequence":${p.sequence},"upserts":[`,
    p.itemType,
    p.upserts,
    `],"deletes":${JSON.stringify(p.deletes)},"totalCount":${p.totalCount}` +
    (window ? `,"window":${window}` : '') +
    (p.order
      ? `,"changes":[{"kind":"windowOrder","ids":${JSON.stringify(p.order)},"total_count":${p.totalCount}` +
        (window ? `,"window":${window}` : '') +
        '}]'
      : '') +
    '}}'
  );
}

/** Seed dialect: the whole result, tx at top level. */
export function seedResultFrame(tx: string, itemType: string, items: MItem[], kind: 'query' | 'view' = 'query'): object {
  return { event: responseEvent(kind), tx, data: items.map((item) => ({ itemType, item })) };
}

/** The JSON of `seedResultFrame(...)`, byte for byte, as UTF-8. */
export function seedResultJson(tx: string, itemType: string, items: MItem[], kind: 'query' | 'view' = 'query'): Buffer {
  return jsonFrameWithItems(`{"event":"${responseEvent(kind)}","tx":${JSON.stringify(tx)},"data":[`, itemType, items, ']}');
}

export function commandResponseFrame(dialect: Dialect, tx: string, response: unknown): object {
  return dialect === 'seed'
    ? { event: Kind.CommandResponse, tx, data: response ?? null }
    : { event: Kind.CommandResponse, data: { tx, response: response ?? null } };
}

export function commandErrorFrame(tx: string, commandId: string, message: string, code?: string): object {
  // Seed clients match on a top-level tx; current clients on data.tx. Both are present.
  return { event: Kind.CommandError, tx, data: { tx, commandId, message, ...(code ? { code } : {}) } };
}

export function queryErrorFrame(tx: string, queryId: string, message: string): object {
  return { event: Kind.QueryError, tx, data: { tx, queryId, message } };
}

export function viewErrorFrame(tx: string, viewId: string, message: string): object {
  return { event: Kind.ViewError, tx, data: { tx, viewId, message } };
}

export function reportResponseFrame(dialect: Dialect, tx: string, response: unknown): object {
  return dialect === 'seed'
    ? { event: Kind.ReportResponse, tx, data: response ?? null }
    : { event: Kind.ReportResponse, data: { tx, response: response ?? null } };
}

export function reportErrorFrame(tx: string, reportId: string, message: string): object {
  return { event: Kind.ReportError, tx, data: { tx, reportId, message } };
}
