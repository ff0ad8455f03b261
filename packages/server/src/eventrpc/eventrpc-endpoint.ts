import type { WebSocket } from 'ws';
import { ErrorCode, builtinQueryIds, copyWith } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { QueryError } from '../live/live-queries.js';
import { ReportError } from '../live/live-reports.js';
import { SocketPeer } from '../bridge/socket-peer.js';
import { PeerEndpoint } from '../bridge/peer-endpoint.js';
import { failureKind, runAsCommand, splitAggregateId, writeItem, type Outcome } from '../bridge/writes.js';
import { AggregateVersions } from './versions.js';
import {
  check,
  eventRpcVersion,
  serverAppName,
  unixSeconds,
  type CommandPayload,
  type Envelope,
  type ResultPayload,
  type SubscribePayload,
  type UnsubscribePayload,
  type UpdatePayload,
} from './messages.js';

/** One live subscription of one connection, by the correlation-id of its `subscribe`. */
interface RpcSub {
  to: SubscribePayload['to'];
  /** The live engine's watch (aggregate, projection). */
  tx: string | undefined;
  /** The event stream's stop function (event). */
  off: (() => void) | undefined;
  /** Updates sent so far: the version of a projection. */
  updates: number;
  /** The aggregate whose version this subscription holds (aggregate, event): released when it ends. */
  agg: { itemType: string; id: string } | undefined;
}

export class RpcPeer extends SocketPeer {
  readonly subs = new Map<string, RpcSub>();
  /** A subscribe is waiting for its aggregate's count: later messages wait too, so replies keep request order. */
  waiting = false;
  readonly backlog: unknown[] = [];
}

/** Messages a connection may queue behind a subscribe whose count is in flight. */
const maxBacklog = 1000;

/** Built-in command types: write the aggregate named by `id` through the ordinary event path. */
const builtinSet = 'SET';
const builtinDel = 'DEL';

/**
 * The EventRPC endpoint (`/eventrpc`): seed 004 and WIRE.md 4 over the same
 * state and live engine as Myko (docs/PROTOCOLS.md).
 *
 *   envelope? ─┬ subscribe   → result ok|rejected, then updates (aggregate, projection: snapshot first)
 *              ├ unsubscribe → result ok|rejected; no update of that subscription follows
 *              ├ command     → SET / DEL / Myko command → exactly one result ok|failed|rejected
 *              └ otherwise   → result rejected
 *
 * Every reply carries this server's version, app-name `myko`, app-id (its
 * serverId) and the request's correlation-id; updates carry the
 * correlation-id of their `subscribe`.
 */
export class EventRpcEndpoint extends PeerEndpoint<RpcPeer> {
  readonly versions: AggregateVersions;

  constructor(ctx: ServerContext) {
    super(ctx, 'eventrpc');
    this.versions = new AggregateVersions({
      store: ctx.store,
      appliedPosition: () => ctx.writer.position,
      isPersistent: (t) => ctx.registry.isPersistent(t),
      state: ctx.state,
      log: ctx.log,
    });
    // First: a batch must be counted before the live engine's listeners deliver it (versions.ts).
    // With no aggregate watched and no ephemeral change in the batch, the listener does nothing.
    ctx.writer.listeners.unshift(this.versions.listener);
  }

  protected createPeer(ws: WebSocket, address: string): RpcPeer {
    return new RpcPeer(ws, address, this.ctx);
  }

  protected onBadFrame(peer: RpcPeer, code: ErrorCode, message: string, value?: unknown): void {
    this.result(peer, correlationOf(value), { status: 'rejected', errors: [message], code });
  }

  protected onMessage(peer: RpcPeer, value: unknown): void {
    if (peer.waiting) {
      if (peer.backlog.length >= maxBacklog)
        return this.result(peer, correlationOf(value), {
          status: 'rejected',
          errors: [`more than ${maxBacklog} requests are waiting behind a subscribe that is being counted: the request was dropped`],
          code: ErrorCode.RateLimited,
        });
      peer.backlog.push(value);
      return;
    }
    this.hold(peer, this.handle(peer, value));
  }

  /** While `pending` (a subscribe counting its aggregate's events), queue this connection's later messages. */
  private hold(peer: RpcPeer, pending: Promise<void> | void): void {
    if (!pending) return;
    peer.waiting = true;
    void pending
      .catch((err) => this.ctx.log.error({ err, clientId: peer.clientId }, 'subscribe failed'))
      .then(() => {
        peer.waiting = false;
        while (!peer.waiting && !peer.closed && peer.backlog.length > 0) {
          const next = peer.backlog.shift();
          this.guard(peer, next, () => this.hold(peer, this.handle(peer, next)));
        }
      });
  }

  /** One message; a promise when its reply waits for a count (later messages must wait for it). */
  private handle(peer: RpcPeer, value: unknown): Promise<void> | void {
    const env = check('envelope', value);
    if (!env.ok) return this.result(peer, correlationOf(value), { status: 'rejected', errors: [env.message], code: ErrorCode.BadFrame });
    const m = env.value;
    const cid = m['correlation-id']!;
    switch (m.type) {
      case 'subscribe': {
        const p = check('subscribe', m.payload);
        if (!p.ok) return this.rejected(peer, cid, ErrorCode.BadQuery, p.message);
        return this.subscribe(peer, cid, p.value);
      }
      case 'unsubscribe': {
        const p = check('unsubscribe', m.payload);
        if (!p.ok) return this.rejected(peer, cid, ErrorCode.BadQuery, p.message);
        return this.unsubscribe(peer, cid, p.value);
      }
      case 'command': {
        const p = check('command', m.payload);
        if (!p.ok) return this.rejected(peer, cid, ErrorCode.BadCommand, p.message);
        return this.command(peer, cid, p.value);
      }
      case 'update':
      case 'result':
        return this.rejected(peer, cid, ErrorCode.UnknownKind, `type ${m.type} is sent by servers only: send subscribe, unsubscribe or command`);
      default:
        return this.rejected(peer, cid, ErrorCode.UnknownKind, `unknown type ${JSON.stringify(m.type)}: send subscribe, unsubscribe or command`);
    }
  }

  protected override onClosed(peer: RpcPeer): void {
    for (const sub of peer.subs.values()) this.end(sub);
    peer.subs.clear();
    peer.backlog.length = 0;
  }

  /** Stop what a subscription holds (its watch is the peer's, dropped with the socket or by unwatch). */
  private end(sub: RpcSub): void {
    sub.off?.();
    sub.off = undefined;
    if (sub.agg) this.versions.release(sub.agg.itemType, sub.agg.id);
    sub.agg = undefined;
  }

  private subscribe(peer: RpcPeer, cid: string, p: SubscribePayload): Promise<void> | void {
    if (peer.subs.has(cid)) return this.rejected(peer, cid, ErrorCode.BadQuery, `a subscription with correlation-id ${cid} is already live on this connection`);
    if (p['event-name'] !== undefined && p.to !== 'event') return this.rejected(peer, cid, ErrorCode.BadQuery, 'payload.event-name is only for subscriptions to event');
    if (p.params !== undefined && p.to !== 'projection') return this.rejected(peer, cid, ErrorCode.BadQuery, 'payload.params is only for subscriptions to projection');
    // Every subscription (event ones too) counts against the live-query cap of a connection.
    const over = peer.limits.liveRoom(peer.subs.size);
    if (over) return this.rejected(peer, cid, ErrorCode.TooManyQueries, over);

    const sub: RpcSub = { to: p.to, tx: undefined, off: undefined, updates: 0, agg: undefined };
    if (p.to === 'projection') return this.start(peer, cid, p, sub);
    const agg = splitAggregateId(p.id);
    if (!agg)
      return this.rejected(
        peer,
        cid,
        ErrorCode.BadQuery,
        p.to === 'event'
          ? `payload.id of an event subscription is an aggregate id ITEMTYPE/ID, got ${JSON.stringify(p.id)}`
          : `payload.id of an aggregate is ITEMTYPE/ID, got ${JSON.stringify(p.id)}`,
      );
    // The aggregate's version is its event count in the log: counted before the subscription starts.
    peer.subs.set(cid, sub);
    sub.agg = agg;
    return this.versions.acquire(agg.itemType, agg.id).then(
      () => {
        if (peer.subs.get(cid) !== sub) return; // the socket closed meanwhile (onClosed released it)
        this.guard(peer, { 'correlation-id': cid }, () => this.start(peer, cid, p, sub));
      },
      (err: Error) => {
        if (peer.subs.get(cid) !== sub) return;
        peer.subs.delete(cid);
        sub.agg = undefined; // a failed acquire holds nothing
        this.ctx.log.warn({ err: err.message, clientId: peer.clientId, aggregate: p.id }, 'could not count the aggregate\'s events');
        this.result(peer, cid, { status: 'failed', errors: [`could not read the aggregate's version: ${err.message}`], code: ErrorCode.StoreFailed });
      },
    );
  }

  /** Start a subscription whose aggregate (if any) is acquired: `result ok`, then the snapshot. */
  private start(peer: RpcPeer, cid: string, p: SubscribePayload, sub: RpcSub): void {
    if (p.to === 'event') {
      const agg = sub.agg!;
      const only = p['event-name'];
      this.result(peer, cid, { status: 'ok' });
      sub.off = this.versions.watch(agg.itemType, agg.id, (event, version) => {
        if (only !== undefined && event.changeType !== only) return;
        const ms = Date.parse(event.createdAt);
        this.update(peer, cid, { timestamp: unixSeconds(Number.isNaN(ms) ? Date.now() : ms), version, id: p.id, name: event.changeType, data: event });
      });
      return;
    }

    // aggregate and projection: the live engine. Its first result arrives during watchQuery/watchReport;
    // it is held until the `result ok` has gone, so the acknowledgement always comes first.
    let held: UpdatePayload | undefined;
    let acked = false;
    const deliver = (u: UpdatePayload) => {
      if (peer.subs.get(cid) !== sub) return;
      if (acked) this.update(peer, cid, u);
      else held = u;
    };
    try {
      if (p.to === 'aggregate') {
        const agg = sub.agg!;
        sub.tx = peer.watchQuery(
          { queryId: builtinQueryIds(agg.itemType).byIds, itemType: agg.itemType, params: { ids: [agg.id] }, window: undefined },
          {
            query: (result) =>
              deliver({
                timestamp: unixSeconds(),
                version: this.versions.version(agg.itemType, agg.id),
                id: p.id,
                name: agg.itemType,
                data: result.get(agg.id) ?? null,
              }),
          },
        );
      } else {
        const slash = p.id.indexOf('/');
        const params = p.params ?? {};
        if (slash >= 0) {
          const queryId = p.id.slice(0, slash);
          const itemType = p.id.slice(slash + 1);
          if (queryId === '' || itemType === '')
            return this.rejected(peer, cid, ErrorCode.BadQuery, `payload.id of a query projection is QUERYID/ITEMTYPE, got ${JSON.stringify(p.id)}`);
          peer.subs.set(cid, sub);
          sub.tx = peer.watchQuery(
            { queryId, itemType, params, window: undefined },
            { query: (result) => deliver({ timestamp: unixSeconds(), version: ++sub.updates, id: p.id, name: p.id, data: result.values() }) },
          );
        } else {
          if (!this.ctx.registry.report(p.id)) return this.rejected(peer, cid, ErrorCode.UnknownReport, `unknown report ${p.id}`);
          peer.subs.set(cid, sub);
          sub.tx = peer.watchReport(p.id, params, {
            report: (value) => deliver({ timestamp: unixSeconds(), version: ++sub.updates, id: p.id, name: p.id, data: value ?? null }),
            // The subscription stays live; the next good value is sent as an update.
            error: (message) => this.result(peer, cid, { status: 'failed', errors: [message], code: ErrorCode.QueryFailed }),
          });
        }
      }
    } catch (err) {
      peer.subs.delete(cid);
      this.end(sub);
      if (err instanceof QueryError) return this.rejected(peer, cid, ErrorCode.BadQuery, err.message);
      if (err instanceof ReportError) return this.rejected(peer, cid, ErrorCode.BadReport, err.message);
      throw err;
    }
    this.result(peer, cid, { status: 'ok' });
    acked = true;
    if (held) this.update(peer, cid, held);
  }

  private unsubscribe(peer: RpcPeer, cid: string, p: UnsubscribePayload): void {
    const target = p['correlation-id'] ?? cid;
    const sub = peer.subs.get(target);
    if (!sub) return this.rejected(peer, cid, ErrorCode.BadQuery, `no live subscription with correlation-id ${target} on this connection`);
    peer.subs.delete(target);
    this.end(sub);
    if (sub.tx) peer.unwatch(sub.tx);
    this.result(peer, cid, { status: 'ok' });
  }

  private command(peer: RpcPeer, cid: string, p: CommandPayload): void {
    let run: Promise<Outcome>;
    if (p.type === builtinSet || p.type === builtinDel) {
      const agg = splitAggregateId(p.id);
      if (!agg) return this.rejected(peer, cid, ErrorCode.BadCommand, `payload.id of ${p.type} is an aggregate id ITEMTYPE/ID, got ${JSON.stringify(p.id)}`);
      if (p.data.id !== undefined && p.data.id !== agg.id)
        return this.rejected(peer, cid, ErrorCode.BadCommand, `payload.data.id (${JSON.stringify(p.data.id)}) differs from the aggregate id's ${JSON.stringify(agg.id)}`);
      const item = p.type === builtinSet ? copyWith(p.data, 'id', agg.id) : { id: agg.id };
      if (!this.takeEvents(peer, 1, { 'correlation-id': cid })) return; // answered rejected MYKO_RATE_LIMITED (or closing)
      run = writeItem(this.ctx, peer, agg.itemType, p.type, item, cid);
    } else {
      // The aggregate id reaches the command as `aggregateId`, unless data names one itself.
      run = runAsCommand(this.ctx, peer, p.type, { aggregateId: p.id, ...p.data }, cid);
    }
    void run
      .then(
        (outcome) => this.settle(peer, cid, outcome),
        (err: Error) => this.settle(peer, cid, { ok: false, code: ErrorCode.CommandFailed, message: err.message }),
      )
      .catch((err) => this.ctx.log.error({ err, clientId: peer.clientId }, 'result failed'));
  }

  private settle(peer: RpcPeer, cid: string, outcome: Outcome): void {
    if (outcome.ok) {
      try {
        return this.result(peer, cid, outcome.value === undefined ? { status: 'ok' } : { status: 'ok', data: outcome.value });
      } catch (err) {
        // A response JSON cannot carry (BigInt, a cycle) still owes its one result.
        return this.settle(peer, cid, { ok: false, code: ErrorCode.CommandFailed, message: `the response is not JSON: ${(err as Error).message}` });
      }
    }
    this.ctx.log.warn({ clientId: peer.clientId, correlationId: cid, code: outcome.code }, outcome.message);
    this.result(peer, cid, { status: failureKind(outcome.code), errors: [outcome.message], code: outcome.code });
  }

  private rejected(peer: RpcPeer, cid: string, code: ErrorCode, message: string): void {
    this.result(peer, cid, { status: 'rejected', errors: [message], code });
  }

  private result(peer: RpcPeer, cid: string | null, payload: ResultPayload): void {
    peer.sendJson(this.envelope(cid, 'result', payload));
  }

  private update(peer: RpcPeer, cid: string, payload: UpdatePayload): void {
    peer.sendJson(this.envelope(cid, 'update', payload));
  }

  private envelope<T extends string, P>(cid: string | null, type: T, payload: P): Envelope<T, P> {
    return {
      version: eventRpcVersion,
      'app-name': serverAppName,
      'app-id': this.ctx.serverId,
      timestamp: unixSeconds(),
      'correlation-id': cid,
      type,
      meta: {},
      payload,
    };
  }
}

/** The request's correlation-id when it can be read, else null. */
function correlationOf(value: unknown): string | null {
  const c = (value as Record<string, unknown> | null | undefined)?.['correlation-id'];
  return typeof value === 'object' && typeof c === 'string' && c !== '' ? c : null;
}
