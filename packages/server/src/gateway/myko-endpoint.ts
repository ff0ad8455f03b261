import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import {
  CloseCode,
  ErrorCode,
  Kind,
  LegacySetClientIdCommand,
  SetClientIdCommand,
  type Dialect,
  type MQuery,
} from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { Claims } from '../security/auth.js';
import type { Refusal } from '../security/rate-limit.js';
import { Connection } from './connection.js';
import { decodeFrame, usesCborRecords } from '../wire/codec.js';
import {
  checkCommand,
  checkCommandError,
  checkCommandResponse,
  checkEvent,
  checkQuery,
  checkQueryWindow,
  checkReport,
} from '../wire/validate.js';
import { commandErrorFrame, commandResponseFrame, queryErrorFrame, reportErrorFrame } from '../wire/frames.js';
import { EventRejected, type RawEvent } from '../core/normalize.js';
import { StoreError } from '../store/event-store.js';
import { QueryError } from '../live/live-queries.js';
import { ReportError } from '../live/live-reports.js';
import { runCommand } from '../commands/run-command.js';
import { answerHistoricQuery, answerHistoricReport } from '../log/historic-query.js';
import { parseAsOf } from '../log/historic-state.js';
import { clientItem, retireClosed } from '../lifecycle/clients.js';
import { countBenchmark } from './benchmark.js';
import { onCursorWindow, onView, onViewWindow } from './view-requests.js';
import { offsetPage } from '../live/result-page.js';
import { detectClientKind } from './client-kind.js';
import { OwnerChallenges } from './owner-challenge.js';

type Frame = { event: string; data: unknown; tx?: unknown };

/**
 * The Myko endpoint (`/myko`): decodes frames, tells the dialect, and routes
 * each kind to the part of the server that owns it. Bad input is answered
 * with an error frame and never closes the connection (docs/ERRORS.md).
 *
 *   frame ─ size? ─ decode (JSON|CBOR) ─ {event,data}? ─ kind ─┬ event(s) → validate → normalise → writer
 *                                                              ├ query/report → live engines
 *                                                              ├ command → registry → response
 *                                                              └ ping → echo
 */
export class MykoEndpoint {
  private readonly challenges: OwnerChallenges;

  constructor(private readonly ctx: ServerContext) {
    this.challenges = new OwnerChallenges(ctx);
  }

  accept(ws: WebSocket, req: IncomingMessage, dialect: Dialect | undefined, claims?: Claims): Connection {
    const ctx = this.ctx;
    const address = req.socket.remoteAddress ?? 'unknown';
    const conn = new Connection(ws, address, dialect, ctx.config, ctx.log);
    conn.claims = claims;
    ctx.connections.set(conn.clientId, conn);
    ctx.log.info({ clientId: conn.clientId, address, dialect: dialect ?? 'auto' }, 'connection open');

    // WIRE.md 1.4: the id under both names; the Client item through the ordinary event path.
    for (const commandId of [SetClientIdCommand, LegacySetClientIdCommand])
      conn.sendFrame({ event: Kind.Command, data: { commandId, command: { tx: randomUUID(), clientId: conn.clientId } } });
    ctx
      .emit([{ itemType: 'Client', changeType: 'SET', item: clientItem(ctx, conn.clientId, address, conn.connectedAt, conn.dialect) }], {
        serverId: ctx.serverId,
      })
      .catch((err) => ctx.log.error({ err, clientId: conn.clientId }, 'could not record Client item'));

    ws.on('message', (data: Buffer, isBinary: boolean) => this.guard(conn, () => this.onFrame(conn, data, isBinary)));
    ws.on('error', (err) => ctx.log.warn({ err: err.message, clientId: conn.clientId }, 'socket error'));
    ws.on('close', (code, reason) => this.onClose(conn, code, reason.toString()));
    return conn;
  }

  /** A bug of ours must cost one reply, never the connection or the process. */
  private guard(conn: Connection, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error({ err, clientId: conn.clientId }, 'frame handler failed');
      conn.sendError({ code: ErrorCode.BadFrame, message: `internal error: ${(err as Error).message}` });
    }
  }

  /**
   * Read-your-writes per connection: a query, report or command that follows
   * events on the same socket is handled once those events are committed, so
   * its answer reflects them. Later frames queue behind it, keeping order.
   */
  private inOrder(conn: Connection, isEvent: boolean, fn: () => void): void {
    if (conn.backlog.length > 0 || (!isEvent && conn.pendingWrites > 0)) conn.backlog.push(fn);
    else fn();
  }

  private drainBacklog(conn: Connection): void {
    while (conn.backlog.length > 0 && conn.pendingWrites === 0) this.guard(conn, conn.backlog.shift()!);
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    const ctx = this.ctx;
    conn.dispose();
    ctx.connections.delete(conn.clientId);
    ctx.queries.dropConnection(conn);
    ctx.reports.dropConnection(conn);
    ctx.views.dropConnection(conn);
    ctx.log.info({ clientId: conn.clientId, code, reason, ...conn.stats }, 'connection closed');
    if (ctx.stopping) return conn.markRetired();
    void retireClosed(ctx, conn.clientId).finally(() => conn.markRetired());
  }

  private onFrame(conn: Connection, data: Buffer, isBinary: boolean): void {
    conn.stats.framesIn++;
    const refused = conn.limits.message();
    if (refused) return this.overLimit(conn, refused);
    if (data.length > this.ctx.config.maxFrameBytes)
      return conn.sendError({
        code: ErrorCode.FrameTooLarge,
        message: `frame of ${data.length} bytes exceeds the limit of ${this.ctx.config.maxFrameBytes} bytes`,
      });
    if (isBinary) {
      conn.encoding = 'cbor';
      conn.cborRecords = usesCborRecords(data);
    }
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok) return conn.sendError({ code: decoded.code, message: decoded.message });
    const frame = decoded.value as Frame;
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof frame.event !== 'string')
      return conn.sendError({ code: ErrorCode.BadFrame, message: 'a frame must be an object {"event": string, "data": ...}' });

    if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ clientId: conn.clientId, kind: frame.event, bytes: data.length, cbor: isBinary }, 'frame');
    // WIRE.md 1.1, 6.7: the dialect (and a 2023 executor) told from what the client sends (gateway/client-kind.ts).
    const d = frame.data as Record<string, unknown> | null;
    if (detectClientKind(conn, frame.event, d)) {
      const ctx = this.ctx;
      const item = clientItem(ctx, conn.clientId, conn.address, conn.connectedAt, conn.dialect, conn.neverAnswers ? '2023' : undefined);
      ctx
        .emit([{ itemType: 'Client', changeType: 'SET', item }], { serverId: ctx.serverId })
        .catch((err) => ctx.log.warn({ err, clientId: conn.clientId }, 'could not record the client dialect'));
    }

    // Load-test traffic: counted, never answered, and not held behind this connection's pending writes.
    if (frame.event === Kind.Benchmark) return countBenchmark(this.ctx, data.length);
    const isEvent = frame.event === Kind.Event || frame.event === Kind.EventBatch;
    this.inOrder(conn, isEvent, () => this.dispatch(conn, frame, d, decoded.text, decoded.cbor));
  }

  private dispatch(conn: Connection, frame: Frame, d: Record<string, unknown> | null, text: string | undefined, cbor: unknown): void {
    switch (frame.event) {
      case Kind.Event:
        return this.onEvents(conn, [frame.data], false);
      case Kind.EventBatch: {
        const list = Array.isArray(frame.data) ? frame.data : (d as { events?: unknown } | null)?.events;
        if (!Array.isArray(list))
          return conn.sendError({ code: ErrorCode.BadEvent, kind: Kind.EventBatch, message: 'data must be an array of events' });
        return this.onEvents(conn, list, true);
      }
      case Kind.Query:
        return this.onQuery(conn, frame.data);
      case Kind.QueryWindow:
        return this.onQueryWindow(conn, frame.data);
      case Kind.QueryCancel:
        return this.onCancel(conn, frame, 'query');
      case Kind.QueryCursorWindow:
        return onCursorWindow(this.ctx, conn, frame.data);
      case Kind.View:
        return onView(this.ctx, conn, frame.data, this.liveCount(conn));
      case Kind.ViewWindow:
        return onViewWindow(this.ctx, conn, frame.data);
      case Kind.ViewCancel:
        return this.onCancel(conn, frame, 'view');
      case Kind.Report:
        return this.onReport(conn, frame.data);
      case Kind.ReportCancel:
        return this.onCancel(conn, frame, 'report');
      case Kind.Command:
        return this.onCommand(conn, frame.data);
      case Kind.CommandResponse:
        return this.onCommandAnswer(conn, frame, true);
      case Kind.CommandError:
        return this.onCommandAnswer(conn, frame, false);
      case Kind.Ping:
        try {
          // The very value sent: a CBOR ping's BigInt timestamp goes back as the same 8-byte integer (WIRE.md 6.4).
          return conn.sendRaw(text ?? '', cbor !== undefined ? cbor : frame);
        } catch (err) {
          // A CBOR connection's ping is re-encoded, and cbor-x recurses: data nested some thousands deep
          // overflowed the stack and came back as an "internal error". It is the frame's fault: say so.
          return conn.sendError({ code: ErrorCode.BadFrame, kind: Kind.Ping, message: `the ping cannot be echoed as CBOR: ${(err as Error).message}` });
        }
      default:
        return conn.sendError({ code: ErrorCode.UnknownKind, kind: frame.event, message: `unknown event kind ${JSON.stringify(frame.event)}` });
    }
  }

  /**
   * A limit was exceeded: the frame is refused with MYKO_RATE_LIMITED; a
   * client that keeps at it (maxViolations within 10 s) is disconnected.
   */
  private overLimit(conn: Connection, refused: Refusal, tx?: string): void {
    if (refused.close) {
      this.ctx.log.warn({ clientId: conn.clientId, what: refused.message }, 'closing connection: limits exceeded repeatedly');
      conn.close(CloseCode.PolicyViolation, ErrorCode.RateLimited);
      return;
    }
    conn.sendError({ code: ErrorCode.RateLimited, message: refused.message, ...(tx ? { tx } : {}) });
  }

  private liveCount(conn: Connection): number {
    return this.ctx.queries.countFor(conn) + this.ctx.reports.countFor(conn) + this.ctx.views.countFor(conn);
  }

  private onEvents(conn: Connection, list: unknown[], batch: boolean): void {
    const kind = batch ? Kind.EventBatch : Kind.Event;
    const refused = conn.limits.takeEvents(list.length);
    if (refused) return this.overLimit(conn, refused, txOf(list[0]));
    const raws: RawEvent[] = [];
    for (let i = 0; i < list.length; i++) {
      const prepared = this.prepare(list[i]);
      let checked = checkEvent(prepared);
      // The path of a refused event in a batch is made only then (checking again names it: the same verdict).
      if (!checked.ok && batch) checked = checkEvent(prepared, `data[${i}]`);
      if (!checked.ok) {
        const tx = txOf(list[i]);
        return conn.sendError({ code: ErrorCode.BadEvent, kind, message: checked.message, ...(batch ? { index: i } : {}), ...(tx ? { tx } : {}) });
      }
      raws.push(checked.value);
    }
    if (raws.length === 0) return;
    // Validation of the whole batch happens before anything is queued: a batch is stored whole or not at all.
    conn.pendingWrites++;
    const settled = () => {
      conn.pendingWrites--;
      this.drainBacklog(conn);
    };
    // The submission's tx (its first event's) names it in an error reply: events are otherwise never acknowledged.
    const tx = raws[0]!.tx ? { tx: raws[0]!.tx } : {};
    // Through the owner challenge: a write refused for a dead owner's items waits for it to be retired (owner-challenge.ts).
    this.challenges.submit(conn, raws, { serverId: this.ctx.serverId, clientId: conn.clientId, claims: conn.claims }).then(settled, (err: Error) => {
      if (err instanceof EventRejected)
        conn.sendError({ code: err.code, kind, message: err.message, ...tx, ...(err.index !== undefined && batch ? { index: err.index } : {}) });
      else if (err instanceof StoreError) conn.sendError({ code: ErrorCode.StoreFailed, kind, message: err.message, ...tx });
      else {
        this.ctx.log.error({ err }, 'event path failed');
        conn.sendError({ code: ErrorCode.StoreFailed, kind, message: err.message, ...tx });
      }
      settled(); // after the error, so the reply precedes answers to later frames
    });
  }

  /** Apply the item type's `prepare` hook (e.g. derive a missing id) before validation. */
  private prepare(raw: unknown): unknown {
    const e = raw as { itemType?: unknown; item?: unknown } | null;
    if (!e || typeof e !== 'object' || typeof e.itemType !== 'string' || !e.item || typeof e.item !== 'object' || Array.isArray(e.item)) return raw;
    const prepare = this.ctx.registry.itemType(e.itemType)?.def.prepare;
    return prepare ? { ...e, item: prepare(e.item as Record<string, unknown>) } : raw;
  }

  private onQuery(conn: Connection, data: unknown): void {
    const checked = checkQuery(data);
    if (!checked.ok) {
      const q = data as Partial<MQuery> | null;
      const tx = txOf((q as { query?: unknown } | null)?.query);
      if (tx) return conn.sendFrame(queryErrorFrame(tx, nameOf(q?.queryId), checked.message));
      return conn.sendError({ code: ErrorCode.BadQuery, kind: Kind.Query, message: checked.message });
    }
    const q = checked.value;
    const { tx, asOf, ...params } = q.query as { tx: string; asOf?: unknown } & Record<string, unknown>;
    if (asOf !== undefined) {
      // Historic: answered once from the log, never live (log/historic-query.ts).
      const req = { tx, queryId: q.queryId, itemType: q.queryItemType, params, window: q.window ?? undefined };
      Promise.resolve()
        .then(() => answerHistoricQuery(this.ctx, conn, req, parseAsOf(asOf)))
        .catch((err: Error) => conn.sendFrame(queryErrorFrame(tx, q.queryId, err.message)));
      return;
    }
    // WIRE.md 1.2: a tx already live on this connection is ignored.
    if (this.ctx.queries.has(conn, tx)) return;
    const noRoom = conn.limits.liveRoom(this.liveCount(conn));
    if (noRoom) return conn.sendFrame(queryErrorFrame(tx, q.queryId, `${ErrorCode.TooManyQueries}: ${noRoom}`));
    try {
      this.ctx.queries.subscribe(conn, { tx, queryId: q.queryId, itemType: q.queryItemType, params, window: q.window ?? undefined });
    } catch (err) {
      if (!(err instanceof QueryError)) this.ctx.log.error({ err }, 'query failed');
      conn.sendFrame(queryErrorFrame(tx, q.queryId, (err as Error).message));
    }
  }

  private onQueryWindow(conn: Connection, data: unknown): void {
    const checked = checkQueryWindow(data);
    if (!checked.ok) return conn.sendError({ code: ErrorCode.BadQuery, kind: Kind.QueryWindow, message: checked.message });
    const { tx, window } = checked.value;
    const page = offsetPage(window ?? undefined);
    // The reference server keeps queries and views in one table per session: a query-window for a view's tx moves it too.
    if (!this.ctx.queries.movePage(conn, tx, page) && !this.ctx.views.movePage(conn, tx, page))
      conn.sendFrame(queryErrorFrame(tx, '', `no live query with tx ${tx}`));
  }

  /** WIRE.md 1.2: `{tx}` in data, a top-level `tx`, or data being the tx itself. */
  private onCancel(conn: Connection, frame: Frame, what: 'query' | 'report' | 'view'): void {
    const tx =
      typeof frame.data === 'string' ? frame.data : (txOf(frame.data) ?? (typeof frame.tx === 'string' ? frame.tx : undefined));
    if (!tx)
      return conn.sendError({
        code: what === 'report' ? ErrorCode.BadReport : ErrorCode.BadQuery,
        kind: frame.event,
        message: 'cancel needs a tx: {"data":{"tx":...}}, a top-level "tx", or "data" being the tx',
      });
    if (what === 'query') this.ctx.queries.cancel(conn, tx);
    else if (what === 'view') this.ctx.views.cancel(conn, tx);
    else this.ctx.reports.cancel(conn, tx);
  }

  private onReport(conn: Connection, data: unknown): void {
    const checked = checkReport(data);
    if (!checked.ok) {
      const tx = txOf((data as { report?: unknown } | null)?.report);
      if (tx) return conn.sendFrame(reportErrorFrame(tx, nameOf((data as { reportId?: unknown }).reportId), checked.message));
      return conn.sendError({ code: ErrorCode.BadReport, kind: Kind.Report, message: checked.message });
    }
    const { reportId, report } = checked.value;
    const { tx, asOf, ...params } = report as { tx: string; asOf?: unknown } & Record<string, unknown>;
    if (asOf !== undefined) {
      Promise.resolve()
        .then(() => answerHistoricReport(this.ctx, conn, tx, reportId, params, parseAsOf(asOf)))
        .catch((err: Error) => conn.sendFrame(reportErrorFrame(tx, reportId, err.message)));
      return;
    }
    if (this.ctx.reports.has(conn, tx)) return;
    const noRoom = conn.limits.liveRoom(this.liveCount(conn));
    if (noRoom) return conn.sendFrame(reportErrorFrame(tx, reportId, `${ErrorCode.TooManyQueries}: ${noRoom}`));
    try {
      this.ctx.reports.subscribe(conn, tx, reportId, params);
    } catch (err) {
      if (!(err instanceof ReportError)) this.ctx.log.error({ err }, 'report failed');
      conn.sendFrame(reportErrorFrame(tx, reportId, (err as Error).message));
    }
  }

  private onCommand(conn: Connection, data: unknown): void {
    const checked = checkCommand(data);
    if (!checked.ok) {
      const tx = txOf((data as { command?: unknown } | null)?.command);
      const commandId = nameOf((data as { commandId?: unknown } | null)?.commandId);
      if (tx) return conn.sendFrame(commandErrorFrame(tx, commandId, checked.message, ErrorCode.BadCommand));
      return conn.sendError({ code: ErrorCode.BadCommand, kind: Kind.Command, message: checked.message });
    }
    const req = checked.value;
    const tx = req.command.tx;
    void runCommand(this.ctx, req, conn.clientId, { claims: conn.claims }).then((outcome) => {
      if (outcome.ok) {
        try {
          return conn.sendFrame(commandResponseFrame(conn.dialect, tx, outcome.response));
        } catch (err) {
          // A response the encoder cannot carry (an executor's answer relayed by ExecTargetAction, nested
          // thousands deep: JSON.stringify and cbor-x overflow the stack; a BigInt) threw here, in a promise
          // callback nobody awaited: the unhandled rejection ended the server process. It is the command's
          // failure, answered as one (as on /models and /eventrpc).
          outcome = { ok: false, code: ErrorCode.CommandFailed, message: `${req.commandId}: the response cannot be sent: ${(err as Error).message}` };
        }
      }
      this.ctx.log.warn({ clientId: conn.clientId, commandId: req.commandId, code: outcome.code }, outcome.message);
      conn.sendFrame(commandErrorFrame(tx, req.commandId, outcome.message, outcome.code));
    });
  }

  /** The client answers a command we sent it. Seed clients put tx at top level and the value in data. */
  private onCommandAnswer(conn: Connection, frame: Frame, ok: boolean): void {
    if (typeof frame.tx === 'string' && ok) {
      conn.settle(frame.tx, { response: frame.data });
      return;
    }
    const checked = ok ? checkCommandResponse(frame.data) : checkCommandError(frame.data);
    if (!checked.ok) return conn.sendError({ code: ErrorCode.BadFrame, kind: frame.event, message: checked.message });
    const v = checked.value as { tx: string; response?: unknown; message?: string; code?: unknown };
    conn.settle(
      v.tx,
      ok ? { response: v.response } : { error: v.message ?? 'command failed on the client', ...(typeof v.code === 'string' ? { code: v.code } : {}) },
    );
  }
}

/**
 * A request's id (queryId, reportId, commandId) for an error reply, when it is one. `String(v)` of
 * whatever was sent recursed through nested arrays (Array#join) and overflowed the stack.
 */
function nameOf(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function txOf(v: unknown): string | undefined {
  const tx = (v as { tx?: unknown } | null | undefined)?.tx;
  return typeof tx === 'string' && tx !== '' ? tx : undefined;
}
