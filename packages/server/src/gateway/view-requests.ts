import { ErrorCode, Kind } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { Connection } from './connection.js';
import { checkQueryCursorWindow, checkQueryWindow, checkView } from '../wire/validate.js';
import { queryErrorFrame, viewErrorFrame } from '../wire/frames.js';
import { ViewError } from '../live/live-views.js';
import { offsetPage, type Page } from '../live/result-page.js';

/**
 * The view requests of the Myko endpoint (WIRE.md 6.3) and keyset paging
 * (6.2), kept out of myko-endpoint.ts: it only routes here. Every refusal is
 * a `ws:m:view-error` (or `query-error`) naming the tx; the connection stays.
 */

/** `ws:m:view {viewId, viewItemType, view: {tx, ...params}, window?}`. */
export function onView(ctx: ServerContext, conn: Connection, data: unknown, liveCount: number): void {
  const checked = checkView(data);
  if (!checked.ok) {
    const d = data as { view?: { tx?: unknown }; viewId?: unknown } | null;
    const tx = typeof d?.view?.tx === 'string' && d.view.tx !== '' ? d.view.tx : undefined;
    if (tx) return conn.sendFrame(viewErrorFrame(tx, typeof d?.viewId === 'string' ? d.viewId : '', checked.message));
    return conn.sendError({ code: ErrorCode.BadQuery, kind: Kind.View, message: checked.message });
  }
  const v = checked.value;
  const view = v.view as { tx: string } & Record<string, unknown>;
  // Like queries: the reference client re-sends its views after a reconnect; on the same socket a live tx is ignored.
  if (ctx.views.has(conn, view.tx)) return;
  const noRoom = conn.limits.liveRoom(liveCount);
  if (noRoom) return conn.sendFrame(viewErrorFrame(view.tx, v.viewId, `${ErrorCode.TooManyQueries}: ${noRoom}`));
  try {
    ctx.views.subscribe(conn, { tx: view.tx, viewId: v.viewId, view, window: v.window ?? undefined });
  } catch (err) {
    if (!(err instanceof ViewError)) ctx.log.error({ err, viewId: v.viewId }, 'view failed');
    conn.sendFrame(viewErrorFrame(view.tx, v.viewId, (err as Error).message));
  }
}

/** `ws:m:view-window {tx, window?}`: move the page; no window answers a fresh sequence 0. */
export function onViewWindow(ctx: ServerContext, conn: Connection, data: unknown): void {
  const checked = checkQueryWindow(data);
  if (!checked.ok) return conn.sendError({ code: ErrorCode.BadQuery, kind: Kind.ViewWindow, message: checked.message });
  const { tx, window } = checked.value;
  const page = offsetPage(window ?? undefined);
  if (!ctx.views.movePage(conn, tx, page) && !ctx.queries.movePage(conn, tx, page))
    conn.sendFrame(viewErrorFrame(tx, '', `no live view with tx ${tx}`));
}

/** `ws:m:query-cursor-window {tx, window: {after?, before?, limit}}`: keyset paging, for a query or a view. */
export function onCursorWindow(ctx: ServerContext, conn: Connection, data: unknown): void {
  const checked = checkQueryCursorWindow(data);
  if (!checked.ok) return conn.sendError({ code: ErrorCode.BadQuery, kind: Kind.QueryCursorWindow, message: checked.message });
  const { tx, window } = checked.value;
  const page: Page = {
    kind: 'cursor',
    cursor: { limit: window.limit, ...(window.after != null ? { after: window.after } : {}), ...(window.before != null ? { before: window.before } : {}) },
  };
  if (ctx.queries.movePage(conn, tx, page) || ctx.views.movePage(conn, tx, page)) return;
  conn.sendFrame(queryErrorFrame(tx, '', `no live query with tx ${tx}`));
}
