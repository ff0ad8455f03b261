import { Kind, type Dialect, type MItem, type QueryWindow } from '@myko/protocol';

/**
 * Response frames per dialect (WIRE.md 1.1), in one place. The JSON builders
 * concatenate pre-encoded item JSON so a change fanned out to a thousand
 * subscribers is stringified once, not a thousand times.
 */

export const wrappedJson = (itemType: string, item: MItem): string =>
  `{"itemType":${JSON.stringify(itemType)},"item":${JSON.stringify(item)}}`;

export interface DiffParts {
  tx: string;
  sequence: number;
  itemType: string;
  upserts: MItem[];
  deletes: string[];
  totalCount: number;
  window: QueryWindow | undefined;
}

export function diffFrame(p: DiffParts): object {
  const data: Record<string, unknown> = {
    tx: p.tx,
    sequence: p.sequence,
    upserts: p.upserts.map((item) => ({ itemType: p.itemType, item })),
    deletes: p.deletes,
    totalCount: p.totalCount,
  };
  if (p.window) data.window = p.window;
  return { event: Kind.QueryResponse, data };
}

export function diffJson(p: DiffParts, upsertJson: string[]): string {
  return (
    `{"event":"${Kind.QueryResponse}","data":{"tx":${JSON.stringify(p.tx)},"sequence":${p.sequence},` +
    `"upserts":[${upsertJson.join(',')}],"deletes":${JSON.stringify(p.deletes)},"totalCount":${p.totalCount}` +
    (p.window ? `,"window":${JSON.stringify(p.window)}` : '') +
    '}}'
  );
}

/** Seed dialect: the whole result, tx at top level. */
export function seedResultFrame(tx: string, itemType: string, items: MItem[]): object {
  return { event: Kind.QueryResponse, tx, data: items.map((item) => ({ itemType, item })) };
}

export function seedResultJson(tx: string, itemJson: string[]): string {
  return `{"event":"${Kind.QueryResponse}","tx":${JSON.stringify(tx)},"data":[${itemJson.join(',')}]}`;
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

export function reportResponseFrame(dialect: Dialect, tx: string, response: unknown): object {
  return dialect === 'seed'
    ? { event: Kind.ReportResponse, tx, data: response ?? null }
    : { event: Kind.ReportResponse, data: { tx, response: response ?? null } };
}

export function reportErrorFrame(tx: string, reportId: string, message: string): object {
  return { event: Kind.ReportError, tx, data: { tx, reportId, message } };
}
