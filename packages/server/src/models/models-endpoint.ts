import type { WebSocket } from 'ws';
// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import { ErrorCode, builtinQueryIds } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { QueryError } from '../live/live-queries.js';
import { ReportError } from '../live/live-reports.js';
import { SocketPeer } from '../bridge/socket-peer.js';
import { PeerEndpoint } from '../bridge/peer-endpoint.js';
import type { ResultSet } from '../bridge/result-set.js';
import { runAsCommand, writeItem, type Outcome } from '../bridge/writes.js';
import { parseKey, type ModelKey } from './keys.js';
import { checkMessage, type ErrorMessage, type Evt, type EventTarget, type FlatEvtRes, type NestedEvtRes, type Up } from './messages.js';

/** One subscribed key of one connection. */
interface ModelSub {
  key: string;
  model: ModelKey;
  tx: string;
  /** The last `val` sent (JSON-equal values are not sent again). */
  last: unknown;
  sent: boolean;
}

export class ModelsPeer extends SocketPeer {
  readonly subs = new Map<string, ModelSub>();
}

/** Built-in evt targets: `set:ITEMTYPE` / `del:ITEMTYPE` write one item through the ordinary event path. */
const setPrefix = 'set:';
const delPrefix = 'del:';

/**
 * The `$` model endpoint (`/models`): seed 002 and WIRE.md 3 over the same
 * state and the same live engine as Myko (docs/PROTOCOLS.md).
 *
 *   sub {keys}   → per key: parse → live query (or report) on this peer → `up` now and on every change
 *   unsub {keys} → cancel those live queries
 *   evt          → target.key: `set:T` / `del:T` (ctx.emit) or a Myko command → exactly one `evt-res`
 *
 * Bad input gets `{$:"error", code, message, key?}` and the connection stays up.
 */
export class ModelsEndpoint extends PeerEndpoint<ModelsPeer> {
  constructor(ctx: ServerContext) {
    super(ctx, 'models');
  }

  protected createPeer(ws: WebSocket, address: string): ModelsPeer {
    return new ModelsPeer(ws, address, this.ctx);
  }

  protected onBadFrame(peer: ModelsPeer, code: ErrorCode, message: string, value?: unknown): void {
    // A failure while handling an `evt` still owes its one `evt-res`.
    const v = value as { $?: unknown; key?: unknown } | undefined;
    if (v && v.$ === 'evt' && typeof v.key === 'string' && v.key !== '')
      return this.answer(peer, value as Evt, { ok: false, code, message });
    this.error(peer, code, message);
  }

  protected onMessage(peer: ModelsPeer, value: unknown): void {
    const kind = (value as { $?: unknown } | null)?.$;
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof kind !== 'string')
      return this.error(peer, ErrorCode.BadFrame, 'a message must be an object with a string "$": "sub", "unsub" or "evt"');
    switch (kind) {
      case 'sub': {
        const m = checkMessage('sub', value);
        if (!m.ok) return this.error(peer, ErrorCode.BadFrame, m.message);
        // The live-query cap applies to the whole `sub`: over it, none of its keys is subscribed.
        const fresh = new Set(m.value.keys.filter((k) => !peer.subs.has(k)));
        const over = peer.limits.liveRoom(peer.subs.size, fresh.size);
        if (over) return this.error(peer, ErrorCode.TooManyQueries, over);
        for (const key of m.value.keys) this.subscribe(peer, key);
        return;
      }
      case 'unsub': {
        const m = checkMessage('unsub', value);
        if (!m.ok) return this.error(peer, ErrorCode.BadFrame, m.message);
        for (const key of m.value.keys) this.unsubscribe(peer, key);
        return;
      }
      case 'evt': {
        const m = checkMessage('evt', value);
        if (!m.ok) return this.error(peer, ErrorCode.BadFrame, `${m.message} (an evt needs a non-empty string "key" to be answered)`);
        return this.onEvt(peer, m.value);
      }
      default:
        return this.error(peer, ErrorCode.UnknownKind, `unknown message ${JSON.stringify(kind)}: expected "sub", "unsub" or "evt"`);
    }
  }

  protected override onClosed(peer: ModelsPeer): void {
    peer.subs.clear();
  }

  /** Subscribing to a key already subscribed sends its current value again; it does not stack. */
  private subscribe(peer: ModelsPeer, key: string): void {
    const existing = peer.subs.get(key);
    if (existing) {
      if (existing.sent) this.up(peer, key, existing.last);
      return;
    }
    const parsed = parseKey(key);
    if (!parsed.ok) return this.error(peer, ErrorCode.BadQuery, parsed.message, key);
    const model = parsed.key;
    const sub: ModelSub = { key, model, tx: '', last: undefined, sent: false };
    peer.subs.set(key, sub);
    try {
      if (model.kind === 'report') {
        if (!this.ctx.registry.report(model.reportId)) {
          peer.subs.delete(key);
          return this.error(peer, ErrorCode.UnknownReport, `unknown report ${model.reportId}`, key);
        }
        sub.tx = peer.watchReport(model.reportId, model.params, {
          report: (value) => this.push(peer, sub, value ?? null),
          error: (message) => this.error(peer, ErrorCode.QueryFailed, message, key),
        });
      } else {
        const req =
          model.kind === 'collection'
            ? { queryId: model.queryId, itemType: model.itemType, params: model.params }
            : { queryId: builtinQueryIds(model.itemType).byIds, itemType: model.itemType, params: { ids: [model.id] } };
        sub.tx = peer.watchQuery({ ...req, window: undefined }, { query: (result) => this.push(peer, sub, valueOf(model, result)) });
      }
    } catch (err) {
      peer.subs.delete(key);
      if (err instanceof QueryError) return this.error(peer, ErrorCode.BadQuery, err.message, key);
      if (err instanceof ReportError) return this.error(peer, ErrorCode.BadReport, err.message, key);
      throw err;
    }
  }

  private unsubscribe(peer: ModelsPeer, key: string): void {
    const sub = peer.subs.get(key);
    if (!sub) return; // idempotent
    peer.subs.delete(key);
    peer.unwatch(sub.tx);
  }

  /** Send `up` unless the value equals the last one sent for this key. */
  private push(peer: ModelsPeer, sub: ModelSub, val: unknown): void {
    if (peer.subs.get(sub.key) !== sub) return;
    if (sub.sent && equal(val, sub.last)) return;
    sub.last = val;
    sub.sent = true;
    this.up(peer, sub.key, val);
  }

  private up(peer: ModelsPeer, key: string, val: unknown): void {
    const m: Up = { $: 'up', key, val };
    peer.sendJson(m);
  }

  private onEvt(peer: ModelsPeer, evt: Evt): void {
    const nested = isNested(evt);
    const inner: unknown = nested ? (evt as { event: unknown }).event : evt;
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner))
      return this.answer(peer, evt, { ok: false, code: ErrorCode.BadFrame, message: 'event must be an object {target, payload, modelState}' });
    const body = inner as { target?: EventTarget; payload?: unknown };
    const target = body.target;
    const handler = target && typeof target === 'object' ? target.key : undefined;
    if (typeof handler !== 'string' || handler === '')
      return this.answer(peer, evt, { ok: false, code: ErrorCode.BadCommand, message: 'target.key must name the handler: a command id, set:ITEMTYPE or del:ITEMTYPE' });
    const payload = handlerArgument(body.payload);
    let run: Promise<Outcome>;
    if (handler.startsWith(setPrefix) || handler.startsWith(delPrefix)) {
      const set = handler.startsWith(setPrefix);
      const itemType = handler.slice(4);
      if (itemType === '') return this.answer(peer, evt, { ok: false, code: ErrorCode.BadEvent, message: `${handler} needs an item type: ${set ? 'set' : 'del'}:ITEMTYPE` });
      // DEL takes the id alone too.
      const item = !set && typeof payload === 'string' ? { id: payload } : payload;
      if (!this.takeEvents(peer, 1, evt)) return; // answered with MYKO_RATE_LIMITED (or the socket is closing)
      run = writeItem(this.ctx, peer, itemType, set ? 'SET' : 'DEL', item, evt.key);
    } else {
      run = runAsCommand(this.ctx, peer, handler, paramsOf(payload), evt.key);
    }
    void run
      .then(
        (outcome) => this.answer(peer, evt, outcome),
        (err: Error) => this.answer(peer, evt, { ok: false, code: ErrorCode.CommandFailed, message: err.message }),
      )
      .catch((err) => this.ctx.log.error({ err, clientId: peer.clientId }, 'evt-res failed'));
  }

  /** Exactly one `evt-res` per `evt`, in the form of the `evt`. Falsy payloads are sent as they are. */
  private answer(peer: ModelsPeer, evt: Evt, outcome: Outcome): void {
    const nested = isNested(evt);
    const body: { payload?: unknown; error?: true; code?: string } = {};
    if (outcome.ok) {
      if (outcome.value !== undefined) body.payload = outcome.value;
    } else {
      this.ctx.log.warn({ clientId: peer.clientId, key: evt.key, code: outcome.code }, outcome.message);
      body.error = true;
      body.payload = outcome.message;
      body.code = outcome.code;
    }
    const m: NestedEvtRes | FlatEvtRes = nested ? { $: 'evt-res', key: evt.key, res: { $: 'response', ...body } } : { $: 'evt-res', key: evt.key, ...body };
    try {
      peer.sendJson(m);
    } catch (err) {
      // A response JSON cannot carry (BigInt, a cycle) still owes its one evt-res.
      if (!outcome.ok) throw err;
      this.answer(peer, evt, { ok: false, code: ErrorCode.CommandFailed, message: `the response is not JSON: ${(err as Error).message}` });
    }
  }

  private error(peer: ModelsPeer, code: string, message: string, key?: string): void {
    const m: ErrorMessage = { $: 'error', code, message, ...(key !== undefined ? { key } : {}) };
    peer.sendJson(m);
  }
}

/** The seed's form nests the event under `event`; the flat form of current @rise-tools clients has no `event`. */
function isNested(evt: Evt): boolean {
  return (evt as { event?: unknown }).event !== undefined;
}

/**
 * WIRE.md 6.8: the `<Rise>` renderer (@rise-tools/react) sends every event's
 * `payload` as the array of the handler's arguments. An array payload is read
 * as that list, in both evt forms: `[]` is no argument, `[x]` is `x`, and with
 * more, the first is taken and the rest ignored (Rise's own `eventPayload()`
 * state modifier reads `payload[0]` too; e.g. a picker's `(value, index)`).
 * The renderer replaces a UI event object by the string "[native code]": that
 * argument is no argument. So an array cannot itself be a handler's argument
 * unless wrapped: `[[a, b]]`.
 */
export function handlerArgument(payload: unknown): unknown {
  if (!Array.isArray(payload)) return payload;
  const first: unknown = payload[0];
  return first === nativeEventPlaceholder ? undefined : first;
}

/** What @rise-tools/react sends in place of a React (native) event argument. */
const nativeEventPlaceholder = '[native code]';

/** A plain object is the command's params; anything else (scalar, null, an array given as `[[...]]`) is `{value}`; no argument is `{}`. */
export function paramsOf(payload: unknown): Record<string, unknown> {
  if (payload === undefined) return {};
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) return payload as Record<string, unknown>;
  return { value: payload };
}

function valueOf(model: ModelKey, result: ResultSet): unknown {
  if (model.kind === 'collection') return result.values();
  if (model.kind !== 'item') return null;
  const item = result.get(model.id);
  if (model.field === undefined) return item ?? null;
  return item?.[model.field] ?? null;
}
