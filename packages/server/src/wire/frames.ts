import { Kind, type Dialect, type MItem, type QueryWindow } from '@myko/protocol';
import { jsonFrameWithItems, textFrameWithItems } from './item-json.js';
import { allocTextFrame, type TextFrame } from './ws-frame.js';

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

/**
 * A diff frame's text up to its sequence number,
 * `{"event":"ws:m:query-response","data":{"tx":"…","sequence":`: the same for
 * every response of one live result, so made once per result (live/result-stream.ts).
 */
export class DiffHead {
  readonly bytes: Buffer;
  constructor(readonly text: string) {
    this.bytes = Buffer.from(text);
  }
}

export const diffHead = (kind: 'query' | 'view', tx: string): DiffHead =>
  new DiffHead(`{"event":"${responseEvent(kind)}","data":{"tx":${JSON.stringify(tx)},"sequence":`);

/** The JSON of `diffFrame(p)`, byte for byte, as UTF-8. */
export function diffJson(p: DiffParts): Buffer {
  return diffText(p, diffHead(p.kind, p.tx)).payload;
}

/**
 * `diffJson(p)` as a WebSocket text frame (wire/ws-frame.ts); `head` is `diffHead(p.kind, p.tx)`.
 * `sentOnce`: the frame goes to one socket and nothing keeps it (a live result's response), so a large
 * one may be written into a reused buffer (wire/large-frames.ts).
 */
export function diffText(p: DiffParts, head: DiffHead, sentOnce = false): TextFrame {
  if (p.window !== undefined || p.order !== undefined || p.upserts.length + p.deletes.length > SHARED_MAX)
    return textFrameWithItems(head.text + p.sequence + ',"upserts":[', p.itemType, p.upserts, diffTail(p), sentOnce);
  // Everything after the sequence is shared by the subscribers that receive the same change.
  const rest = sharedRest(p);
  const seq = String(p.sequence);
  const frame = allocTextFrame(head.bytes.length + seq.length + rest.length);
  const out = frame.bytes;
  let at = frame.offset;
  out.set(head.bytes, at);
  at += head.bytes.length;
  // ASCII digits, a few of them: a loop is cheaper than Buffer#write's call into C++.
  for (let i = 0; i < seq.length; i++) out[at++] = seq.charCodeAt(i);
  out.set(rest, at);
  return frame;
}

/** `],"deletes":…,"totalCount":N…}}`: what follows the upserts. */
function diffTail(p: DiffParts): string {
  const window = p.window ? JSON.stringify(p.window) : undefined;
  return (
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

/**
 * The part of an unpaged diff after its sequence, `,"upserts":[…],"deletes":[…],"totalCount":N}}`,
 * kept for the next diff with the same content. One change fanned out to a
 * thousand subscribers of one query is a thousand diffs that differ only in
 * tx and sequence: the flush answers them one after another, so one entry
 * serves them all and this part is built once. The key is the items' object
 * identity (items are never changed in place: the same object is the same
 * JSON), the deleted ids, the count and the item type. Small diffs only: the
 * entry is compared element by element and kept until the next different diff.
 */
const SHARED_MAX = 64;
interface SharedRest {
  itemType: string;
  upserts: MItem[];
  deletes: string[];
  totalCount: number;
  bytes: Buffer;
}
let shared: SharedRest | undefined;

function sharedRest(p: DiffParts): Buffer {
  const s = shared;
  if (s !== undefined && s.itemType === p.itemType && s.totalCount === p.totalCount && sameList(s.upserts, p.upserts) && sameList(s.deletes, p.deletes))
    return s.bytes;
  const bytes = jsonFrameWithItems(',"upserts":[', p.itemType, p.upserts, diffTail(p));
  shared = { itemType: p.itemType, upserts: p.upserts.slice(), deletes: p.deletes.slice(), totalCount: p.totalCount, bytes };
  return bytes;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Seed dialect: the whole result, tx at top level. */
export function seedResultFrame(tx: string, itemType: string, items: MItem[], kind: 'query' | 'view' = 'query'): object {
  return { event: responseEvent(kind), tx, data: items.map((item) => ({ itemType, item })) };
}

/** The JSON of `seedResultFrame(...)`, byte for byte, as UTF-8. */
export function seedResultJson(tx: string, itemType: string, items: MItem[], kind: 'query' | 'view' = 'query'): Buffer {
  return seedResultText(tx, itemType, items, kind).payload;
}

/** `seedResultJson(...)` as a WebSocket text frame (wire/ws-frame.ts); `sentOnce` as for diffText. */
export function seedResultText(tx: string, itemType: string, items: MItem[], kind: 'query' | 'view' = 'query', sentOnce = false): TextFrame {
  return textFrameWithItems(`{"event":"${responseEvent(kind)}","tx":${JSON.stringify(tx)},"data":[`, itemType, items, ']}', sentOnce);
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
