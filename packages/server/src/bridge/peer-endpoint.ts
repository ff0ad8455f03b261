import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { decodeFrame } from '../wire/codec.js';
import { clientItem, retireClosed } from '../lifecycle/clients.js';
import { SocketPeer } from './socket-peer.js';

/** How often an endpoint looks for a server stop and for slow consumers while it has sockets. */
const sweepMs = 100;

/**
 * What the `$` and EventRPC endpoints share: accepting a socket, the Client
 * item of WIRE.md 1.4 (with `protocol` naming the endpoint), the limits of a
 * Myko connection (frame size, messages/s, events/s, live queries: see
 * ConnectionLimits), JSON decoding, a guard so no bug of ours costs more than
 * one reply, and cleanup on close (live watches dropped, owned items retired).
 *
 *   frame ─ rate? ─ size? ─ text? ─ JSON? ─ onMessage(peer, value)   (else onBadFrame: one error reply)
 *
 * A refusal is answered through `onBadFrame` with the protocol's own error
 * shape (MYKO_RATE_LIMITED); a client that keeps exceeding a limit is closed
 * with 1008 MYKO_RATE_LIMITED, as on /myko.
 *
 * Hazard: MykoServer.stop() closes only Myko connections and offers no hook,
 * so each endpoint polls `ctx.stopping` (every 100 ms, only while it has
 * sockets) and closes its own with 1001 MYKO_SHUTTING_DOWN; the same sweep
 * closes sockets held back longer than `slowConsumerTimeoutMs`.
 */
export abstract class PeerEndpoint<P extends SocketPeer> {
  protected readonly peers = new Set<P>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly ctx: ServerContext,
    /** Recorded on the Client item (`protocol`) and in logs. */
    readonly protocol: string,
  ) {}

  protected abstract createPeer(ws: WebSocket, address: string): P;
  /** One decoded JSON message. May throw: the guard answers with `onBadFrame`. */
  protected abstract onMessage(peer: P, value: unknown): void;
  /** A frame that could not be read, or a failure of ours while handling it. */
  protected abstract onBadFrame(peer: P, code: ErrorCode, message: string, value?: unknown): void;
  /** After the socket closed and the peer's watches were dropped. */
  protected onClosed(_peer: P): void {}

  get size(): number {
    return this.peers.size;
  }

  accept(ws: WebSocket, req: IncomingMessage, claims?: Record<string, unknown>): P | undefined {
    const ctx = this.ctx;
    if (ctx.stopping) {
      ws.close(CloseCode.GoingAway, ErrorCode.ShuttingDown);
      return undefined;
    }
    const address = req.socket.remoteAddress ?? 'unknown';
    const peer = this.createPeer(ws, address);
    peer.claims = claims;
    this.peers.add(peer);
    this.timer ??= setInterval(() => this.sweep(), sweepMs).unref();
    ctx.log.info({ clientId: peer.clientId, address, protocol: this.protocol }, 'connection open');
    void ctx
      .emit([{ itemType: 'Client', changeType: 'SET', item: { ...clientItem(ctx, peer.clientId, address, peer.connectedAt), protocol: this.protocol } }], {
        serverId: ctx.serverId,
      })
      .catch((err) => ctx.log.error({ err, clientId: peer.clientId }, 'could not record Client item'));

    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(peer, data, isBinary));
    ws.on('error', (err) => ctx.log.warn({ err: err.message, clientId: peer.clientId }, 'socket error'));
    ws.on('close', (code, reason) => this.onClose(peer, code, reason.toString()));
    return peer;
  }

  private onFrame(peer: P, data: Buffer, isBinary: boolean): void {
    peer.stats.framesIn++;
    const limited = peer.limits.message();
    if (limited?.close) return this.closeOffender(peer, limited.message);
    if (data.length > this.ctx.config.maxFrameBytes)
      return this.bad(peer, ErrorCode.FrameTooLarge, `frame of ${data.length} bytes exceeds the limit of ${this.ctx.config.maxFrameBytes} bytes`);
    if (isBinary) return this.bad(peer, ErrorCode.BadFrame, `binary frames are not accepted on the ${this.protocol} endpoint: send JSON text`);
    const decoded = decodeFrame(data, false);
    // Decoded even when refused, so the refusal can name the request (an `evt` key, a correlation-id):
    // at most maxViolations frames per 10 s, before the connection is closed.
    if (limited) return this.bad(peer, ErrorCode.RateLimited, limited.message, decoded.ok ? decoded.value : undefined);
    if (!decoded.ok) return this.bad(peer, decoded.code, decoded.message);
    this.guard(peer, decoded.value, () => this.onMessage(peer, decoded.value));
  }

  /** Run `fn` on behalf of message `value`; a throw of ours costs one error reply, never the connection. */
  protected guard(peer: P, value: unknown, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error({ err, clientId: peer.clientId, protocol: this.protocol }, 'message handler failed');
      this.bad(peer, ErrorCode.BadFrame, `internal error: ${(err as Error).message}`, value);
    }
  }

  /**
   * Take `n` events from the connection's events/s budget before a write. On
   * refusal, the request `value` is answered with MYKO_RATE_LIMITED (or the
   * connection closed) and false is returned: the write must not run.
   */
  protected takeEvents(peer: P, n: number, value: unknown): boolean {
    const limited = peer.limits.takeEvents(n);
    if (!limited) return true;
    if (limited.close) this.closeOffender(peer, limited.message);
    else this.bad(peer, ErrorCode.RateLimited, limited.message, value);
    return false;
  }

  private closeOffender(peer: P, message: string): void {
    this.ctx.log.warn({ clientId: peer.clientId, protocol: this.protocol, what: message }, 'closing connection: limits exceeded repeatedly');
    peer.close(CloseCode.PolicyViolation, ErrorCode.RateLimited);
  }

  private bad(peer: P, code: ErrorCode, message: string, value?: unknown): void {
    peer.stats.errors++;
    this.ctx.log.warn({ clientId: peer.clientId, protocol: this.protocol, code }, message);
    try {
      this.onBadFrame(peer, code, message, value);
    } catch (err) {
      this.ctx.log.error({ err, clientId: peer.clientId }, 'error reply failed');
    }
  }

  private onClose(peer: P, code: number, reason: string): void {
    const ctx = this.ctx;
    peer.dispose();
    this.peers.delete(peer);
    if (this.peers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    try {
      this.onClosed(peer);
    } catch (err) {
      ctx.log.error({ err, clientId: peer.clientId }, 'close handler failed');
    }
    ctx.log.info({ clientId: peer.clientId, code, reason, protocol: this.protocol, ...peer.stats }, 'connection closed');
    if (ctx.stopping) return; // the next boot reaps it, as for Myko connections
    void retireClosed(ctx, peer.clientId);
  }

  private sweep(): void {
    if (this.ctx.stopping) {
      for (const peer of this.peers) peer.close(CloseCode.GoingAway, ErrorCode.ShuttingDown);
      return;
    }
    const now = Date.now();
    for (const peer of this.peers) {
      if (peer.congestedSince > 0 && now - peer.congestedSince > this.ctx.config.slowConsumerTimeoutMs) {
        this.ctx.log.warn({ clientId: peer.clientId, buffered: peer.ws.bufferedAmount }, 'closing slow consumer: held back too long');
        peer.close(CloseCode.TryAgainLater, ErrorCode.SlowConsumer);
      }
    }
  }
}
