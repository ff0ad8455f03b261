import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { ConnectionLimits } from '../security/rate-limit.js';
import { LiveWatches } from './live-watches.js';

export type { WatchHandler } from './live-watches.js';

/**
 * One socket of a non-Myko protocol (`$` models, EventRPC): the live engine's
 * translator (LiveWatches) with a socket under it.
 *
 * Backpressure is the engine's: while `congested()`, diffs are held back and
 * coalesced, and flushed on `onDrain`. Messages the protocol sends itself
 * (replies) are never held back; past `sendMaxBufferedBytes` the socket is
 * closed as a slow consumer, as a Myko connection would be.
 */
export class SocketPeer extends LiveWatches {
  readonly connectedAt = new Date().toISOString();
  /** Since when the outgoing buffer has been above the high-water mark (0 = not congested). */
  congestedSince = 0;
  private closing = false;
  readonly stats = { framesIn: 0, framesOut: 0, errors: 0 };
  /** Messages/s, events/s, live queries: the same limits as a Myko connection's (PeerEndpoint applies them). */
  readonly limits: ConnectionLimits;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly afterWrite = () => this.checkDrain();

  constructor(
    readonly ws: WebSocket,
    readonly address: string,
    ctx: ServerContext,
  ) {
    super(ctx);
    this.limits = new ConnectionLimits(ctx.config);
  }

  override congested(): boolean {
    return this.ws.bufferedAmount > this.ctx.config.sendHighWaterBytes;
  }

  override onDrain(cb: () => void): void {
    this.drainWaiters.push(cb);
    this.checkDrain();
  }

  /** Send one protocol message as JSON text. Throws, having sent nothing, when it is not JSON-serialisable. */
  sendJson(message: unknown): void {
    if (this.closed) return;
    const text = JSON.stringify(message);
    this.stats.framesOut++;
    this.ws.send(text, this.afterWrite);
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.ctx.config.sendHighWaterBytes) {
      if (this.congestedSince === 0) this.congestedSince = Date.now();
      if (buffered > this.ctx.config.sendMaxBufferedBytes) {
        this.ctx.log.warn({ clientId: this.clientId, buffered }, 'closing slow consumer: send buffer limit');
        this.close(CloseCode.TryAgainLater, ErrorCode.SlowConsumer);
      }
    }
  }

  close(code: number, reason: string): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.ws.close(code, reason);
    // A client that does not read will never take the close frame: do not wait on it forever.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  /** Called once when the socket has closed: every watch ends with it. */
  override dispose(): void {
    super.dispose();
    this.drainWaiters.length = 0;
  }

  private checkDrain(): void {
    if (this.closed || this.ws.bufferedAmount > this.ctx.config.sendHighWaterBytes) return;
    this.congestedSince = 0;
    if (this.drainWaiters.length === 0) return;
    for (const cb of this.drainWaiters.splice(0)) cb();
  }
}
