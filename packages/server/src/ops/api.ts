import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';
import type { Change } from '../core/state.js';
import type { StoredEvent } from '../store/event-store.js';
import { tokenFromRequest } from '../security/auth.js';

/**
 * The dashboard's HTTP API (besides the Myko WebSocket it also uses):
 *
 *   GET  /api/history/ITEMTYPE/ID   an item's stored events, oldest first (the store's readHistory)
 *   GET  /api/items/ITEMTYPE?sort=F&dir=asc|desc&offset=N&limit=N&where={...}
 *                                   one page of the type sorted by any field over the whole set (items.ts)
 *   GET  /api/events[?types=A,B][&exclude=C]
 *                                   Server-Sent Events: every committed event that changed state
 *   GET  /api/stats                 Server-Sent Events: a snapshot of this server once a second
 *   GET  /api/changed-at/ITEMTYPE[?ids=a,b]
 *                                   when each item of a memory-only type last changed (change-times.ts)
 *   POST /api/verify                run `myko verify` on the live log; answers the result
 *
 * With authentication on, each needs a valid token (`Authorization: Bearer`
 * or `?access_token=`, as on the WebSocket endpoints; EventSource can only
 * use the query form), unless anonymous connections are allowed.
 */

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The caller of an HTTP request, by the same rule as the WebSocket handshake:
 * `{claims}` (undefined claims: anonymous, or authentication off) when it may
 * proceed; otherwise false, having answered 401. /api/* and /mcp use it.
 */
export async function authenticate(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<{ claims: Record<string, unknown> | undefined } | false> {
  const auth = ctx.auth;
  if (!auth) return { claims: undefined };
  const token = tokenFromRequest(req.headers, url);
  if (!token) {
    if (auth.allowAnonymous) return { claims: undefined };
    sendJson(res, 401, { code: 'MYKO_UNAUTHORIZED', message: 'a token is required: Authorization: Bearer <jwt> or ?access_token=<jwt>' });
    return false;
  }
  try {
    return { claims: await auth.verify(token) };
  } catch (err) {
    sendJson(res, 401, { code: 'MYKO_UNAUTHORIZED', message: (err as Error).message });
    return false;
  }
}

/** Resolves true when the request may proceed; otherwise has answered 401. */
export async function authorize(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  return (await authenticate(ctx, req, res, url)) !== false;
}

/** What the event stream sends per event. The item is left out above this size (`itemOmitted: true`). */
const maxItemChars = 4096;
/** Per subscriber, at most this many events are held between two sends; more are counted as dropped. */
const maxPending = 1000;
const sendEveryMs = 100;
/** A subscriber whose socket holds more than this is not written to until it drains (events are dropped meanwhile). */
const maxBufferedBytes = 1 << 20;

interface EventSubscriber {
  res: ServerResponse;
  types: Set<string> | undefined;
  exclude: Set<string>;
  pending: StoredEvent[];
  dropped: number;
  timer: NodeJS.Timeout;
}

/**
 * The live event stream: a writer listener hands each committed batch's
 * state-changing events to the subscribers, who are written to at most every
 * 100 ms. With nobody subscribed the listener returns at once. A slow
 * browser loses events (counted and reported as `{dropped}`), never memory.
 */
export class EventStream {
  private readonly subs = new Set<EventSubscriber>();

  constructor(ctx: ServerContext) {
    ctx.writer.listeners.push((changes) => this.onChanges(changes));
  }

  get size(): number {
    return this.subs.size;
  }

  private onChanges(changes: readonly Change[]): void {
    if (this.subs.size === 0) return;
    for (const sub of this.subs) {
      for (const c of changes) {
        if (c.derived || sub.exclude.has(c.itemType) || (sub.types && !sub.types.has(c.itemType))) continue; // derived: not an event of its own
        if (sub.pending.length >= maxPending) sub.dropped++;
        else sub.pending.push(c.event);
      }
    }
  }

  open(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const list = (name: string) =>
      (url.searchParams.get(name) ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    const types = list('types');
    startSse(res);
    const sub: EventSubscriber = {
      res,
      types: types.length > 0 ? new Set(types) : undefined,
      exclude: new Set(list('exclude')),
      pending: [],
      dropped: 0,
      timer: setInterval(() => this.send(sub), sendEveryMs),
    };
    this.subs.add(sub);
    const close = () => {
      clearInterval(sub.timer);
      this.subs.delete(sub);
    };
    req.on('close', close);
    res.on('close', close);
  }

  private send(sub: EventSubscriber): void {
    if (sub.pending.length === 0 && sub.dropped === 0) return;
    if (sub.res.writableLength > maxBufferedBytes) {
      sub.dropped += sub.pending.length;
      sub.pending = [];
      return;
    }
    let out = '';
    for (const e of sub.pending) out += `data: ${eventJson(e)}\n\n`;
    if (sub.dropped > 0) out += `event: dropped\ndata: ${JSON.stringify({ dropped: sub.dropped })}\n\n`;
    sub.pending = [];
    sub.dropped = 0;
    sub.res.write(out);
  }
}

const itemJson = new WeakMap<object, string>();

function eventJson(e: StoredEvent): string {
  let item = itemJson.get(e.item);
  if (item === undefined) {
    item = JSON.stringify(e.item);
    itemJson.set(e.item, item);
  }
  const head = {
    position: e.position,
    itemType: e.itemType,
    changeType: e.changeType,
    id: e.item.id,
    createdAt: e.createdAt,
    tx: e.tx,
    sourceId: e.sourceId,
    ...(e.clientId !== undefined ? { clientId: e.clientId } : {}),
  };
  const json = JSON.stringify(head);
  return item.length <= maxItemChars ? `${json.slice(0, -1)},"item":${item}}` : `${json.slice(0, -1)},"itemOmitted":true}`;
}

export function startSse(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Tell EventSource how soon to reconnect, and open the stream at once.
  res.write('retry: 1000\n\n');
}

/** GET /api/history/ITEMTYPE/ID: null when the path does not name one. */
export function historyTarget(url: URL): { itemType: string; id: string } | null | 'bad' {
  const m = /^\/api\/history\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m) return null;
  try {
    return { itemType: decodeURIComponent(m[1]!), id: decodeURIComponent(m[2]!) };
  } catch {
    return 'bad';
  }
}
