import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode, Kind, type Dialect, type WireError } from '@myko/protocol';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Subscriber } from '../live/subscriber.js';
import { encodeCbor } from '../wire/codec.js';
import { TextFrame } from '../wire/ws-frame.js';
import type { Claims } from '../security/auth.js';
import { ConnectionLimits } from '../security/rate-limit.js';

/** A command this server sent to the client, awaiting its answer. */
interface PendingRequest {
  commandId: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The answer to a command sent to a client known never to answer commands
 * (the 2023 Rocketship executor, WIRE.md 6.7): the frame was written to its
 * socket. Given at once instead of waiting for a timeout; documented in
 * docs/PROTOCOLS.md.
 */
export const deliveredUnanswered = Object.freeze({ delivered: true, answered: false, executor: '2023' });

const textFrame = Object.freeze({ binary: false });
const binaryFrame = Object.freeze({ binary: true });
/** Above the largest header (10 bytes): a send this far below the high-water mark cannot cross it. */
const HEADER_MARGIN = 16;

/**
 * What of ws's Sender a pre-framed text frame needs (ws 8: `WebSocket#_sender`, `Sender#sendFrame`;
 * Socket.IO's broadcast uses the same). `_state` 0 is DEFAULT: nothing queued (a deflate or a Blob read).
 */
interface RawSender {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
  _state: number;
}

/** The socket's Sender, when it takes pre-framed server frames: a server socket, no extension (no deflate), ws 8's API. */
function rawSenderOf(ws: WebSocket): RawSender | null {
  const w = ws as unknown as { _sender?: RawSender; _isServer?: boolean };
  const sender = w._sender;
  return sender && typeof sender.sendFrame === 'function' && typeof sender._state === 'number' && w._isServer === true && ws.extensions === '' ? sender : null;
}

export class ClientCommandError extends Error {
  override name = 'ClientCommandError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * One WebSocket client: the only owner of its socket. It knows the client's
 * dialect and encoding, tracks outgoing backpressure, and correlates commands
 * the server sends it with their answers.
 */
export class Connection implements Subscriber {
  readonly clientId = randomUUID();
  readonly connectedAt = new Date().toISOString();
  dialect: Dialect;
  /** Set by an explicit choice (subprotocol or URL); then detection never changes it. */
  readonly dialectFixed: boolean;
  encoding: 'json' | 'cbor' = 'json';
  /** CBOR answers use cbor-x records, as the client's own frames do (wire/codec.ts usesCborRecords). */
  cborRecords = false;
  /** Since when the outgoing buffer has been above the high-water mark (0 = not congested). */
  congestedSince = 0;
  closed = false;
  readonly stats = { framesIn: 0, framesOut: 0, errors: 0 };
  /** Event submissions of this connection not yet committed (or rejected). */
  pendingWrites = 0;
  /** Frames held back until this connection's earlier events are committed (read-your-writes). */
  readonly backlog: (() => void)[] = [];
  /**
   * A client that reads commands but never answers them (the 2023 executor,
   * gateway/client-kind.ts): `request` resolves with `deliveredUnanswered`
   * once the command is written, rather than waiting for the timeout.
   */
  neverAnswers = false;
  /** Resolves once the socket has closed and what the client owned is retired (committed). */
  readonly retired: Promise<void>;
  /** Called by the endpoint when the retirement events are committed (or failed). */
  markRetired!: () => void;
  /** The handshake token's claims (undefined: anonymous, or authentication off). */
  claims: Claims | undefined;
  /** Messages/s, events/s, live queries and strikes: the same limits object as the `$` and EventRPC endpoints. */
  readonly limits: ConnectionLimits;
  private readonly drainWaiters: (() => void)[] = [];
  private readonly pending = new Map<string, PendingRequest>();
  private readonly afterWrite = () => this.checkDrain();
  /** ws's Sender when pre-framed frames can go through it (null: they cannot); found at the first such send. */
  private rawSender: RawSender | null | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly address: string,
    dialect: Dialect | undefined,
    private readonly config: ServerConfig,
    readonly log: Logger,
  ) {
    this.dialect = dialect ?? 'current';
    this.dialectFixed = dialect !== undefined;
    this.limits = new ConnectionLimits(config);
    this.retired = new Promise((r) => (this.markRetired = r));
  }

  congested(): boolean {
    return this.ws.bufferedAmount > this.config.sendHighWaterBytes;
  }

  send(frame: () => object, json?: () => string | Buffer | TextFrame): void {
    if (this.closed) return;
    if (this.encoding === 'cbor') return this.sendPayload(encodeCbor(frame(), this.cborRecords));
    const payload = json ? json() : JSON.stringify(frame());
    if (payload instanceof TextFrame) this.sendTextFrame(payload);
    else this.sendPayload(payload);
  }

  /** Send a ready frame object. */
  sendFrame(frame: object): void {
    this.send(() => frame);
  }

  /** Send text as received (ping echo) or re-encoded for CBOR clients. */
  sendRaw(text: string, value: unknown): void {
    if (this.closed) return;
    this.sendPayload(this.encoding === 'cbor' ? encodeCbor(value, this.cborRecords) : text);
  }

  sendError(err: WireError): void {
    this.stats.errors++;
    this.log.warn({ clientId: this.clientId, code: err.code, kind: err.kind, tx: err.tx }, err.message);
    this.sendFrame({ event: Kind.Error, ...(err.tx ? { tx: err.tx } : {}), data: err });
  }

  onDrain(cb: () => void): void {
    this.drainWaiters.push(cb);
    this.checkDrain();
  }

  /** Send a command to the client and await its `command-response` / `command-error`. */
  request(commandId: string, params: Record<string, unknown>, timeoutMs = this.config.clientCommandTimeoutMs): Promise<unknown> {
    const tx = typeof params.tx === 'string' ? params.tx : randomUUID();
    const command = { ...params, tx, createdAt: (params.createdAt as string | undefined) ?? new Date().toISOString() };
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ClientCommandError(`client ${this.clientId} is disconnected`, 'MYKO_CLIENT_GONE'));
      if (this.neverAnswers) {
        // No pending entry: an answer it might send after all finds none and is ignored.
        this.sendFrameThen({ event: Kind.Command, data: { commandId, command } }, (err) =>
          err ? reject(new ClientCommandError(`${commandId} could not be written to client ${this.clientId}: ${err.message}`, 'MYKO_CLIENT_GONE')) : resolve({ ...deliveredUnanswered }),
        );
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(tx);
        reject(new ClientCommandError(`${commandId} to client ${this.clientId} timed out after ${timeoutMs} ms`, ErrorCode.Timeout));
      }, timeoutMs);
      this.pending.set(tx, { commandId, resolve, reject, timer });
      this.sendFrame({ event: Kind.Command, data: { commandId, command } });
    });
  }

  /** An answer from the client; false when no request of ours has that tx. */
  settle(tx: string, outcome: { response: unknown } | { error: string; code?: string }): boolean {
    const p = this.pending.get(tx);
    if (!p) return false;
    this.pending.delete(tx);
    clearTimeout(p.timer);
    if ('error' in outcome) p.reject(new ClientCommandError(outcome.error, outcome.code ?? ErrorCode.CommandFailed));
    else p.resolve(outcome.response);
    return true;
  }

  /** Close with a reason code; pending requests fail at once. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    // A client that does not read will never take the close frame: do not wait on it forever.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  /** Called once when the socket has closed. */
  dispose(): void {
    this.closed = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ClientCommandError(`client ${this.clientId} disconnected`, 'MYKO_CLIENT_GONE'));
    }
    this.pending.clear();
    this.drainWaiters.length = 0;
    this.backlog.length = 0;
  }

  /**
   * A JSON frame with its header already in front (wire/ws-frame.ts): handed
   * to ws's Sender as one buffer, one socket write, when the socket is open
   * and ws has nothing queued of its own (it queues only to deflate, which is
   * off, or to read a Blob, which is never sent); otherwise sent as its
   * payload through ws.send. The bytes on the wire are the same either way.
   */
  private sendTextFrame(frame: TextFrame): void {
    const sender = (this.rawSender ??= rawSenderOf(this.ws));
    // A pooled frame's buffer goes back once the socket has taken it (or failed to): not before, since
    // a congested socket still holds it queued (wire/large-frames.ts).
    const release = frame.release;
    if (sender === null || sender._state !== 0 || this.ws.readyState !== 1) return this.sendPayload(frame.payload, release);
    this.stats.framesOut++;
    const watch = this.mayCongest(frame.bytes.length);
    sender.sendFrame([frame.bytes], release ? this.releaseAfterWrite(watch, release) : watch ? this.afterWrite : undefined);
    if (watch) this.checkBuffered();
  }

  /** The frame's release, and after it afterWrite when the send is watched (mayCongest). */
  private releaseAfterWrite(watch: boolean, release: () => void): () => void {
    return watch
      ? () => {
          release();
          this.afterWrite();
        }
      : release;
  }

  /**
   * Whether a send of `bytes` may leave the buffer above the high-water mark, or it already is: then the
   * send gets a write callback (the last such callback sees it drain: checkDrain) and the buffer is
   * checked after it (checkBuffered). Otherwise neither: the buffer after the write holds at most what it
   * held plus this frame, still below the mark. A callback and a second read of the buffer per send
   * were a closure call and a getter per frame, a thousand of each per fanned-out change (ws's
   * `bufferedAmount` getter alone was 2.9% of the fanout's CPU, read three times per subscriber).
   */
  private mayCongest(bytes: number): boolean {
    return this.congestedSince !== 0 || this.ws.bufferedAmount + bytes + HEADER_MARGIN > this.config.sendHighWaterBytes;
  }

  private sendPayload(payload: string | Buffer, written?: (err?: Error) => void): void {
    this.stats.framesOut++;
    // The encoding decides the frame type, not the payload's type: JSON may come as UTF-8 bytes (wire/item-json.ts).
    const options = this.encoding === 'cbor' ? binaryFrame : textFrame;
    // A string's UTF-8 length is at most 3 bytes per UTF-16 unit.
    const watch = this.mayCongest(typeof payload === 'string' ? payload.length * 3 : payload.length);
    this.ws.send(payload, options, written ? (err) => (this.afterWrite(), written(err)) : watch ? this.afterWrite : undefined);
    if (watch) this.checkBuffered();
  }

  /** After a send: note congestion, and close a client that lets too much pile up. */
  private checkBuffered(): void {
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.config.sendHighWaterBytes) {
      if (this.congestedSince === 0) this.congestedSince = Date.now();
      if (buffered > this.config.sendMaxBufferedBytes) {
        this.log.warn({ clientId: this.clientId, buffered }, 'closing slow consumer: send buffer limit');
        this.close(CloseCode.TryAgainLater, ErrorCode.SlowConsumer);
      }
    }
  }

  /** A frame, with a callback once it is written to the socket (or could not be). */
  private sendFrameThen(frame: object, written: (err?: Error) => void): void {
    if (this.closed) return written(new Error('disconnected'));
    this.sendPayload(this.encoding === 'cbor' ? encodeCbor(frame, this.cborRecords) : JSON.stringify(frame), written);
  }

  private checkDrain(): void {
    if (this.closed || this.ws.bufferedAmount > this.config.sendHighWaterBytes) return;
    this.congestedSince = 0;
    if (this.drainWaiters.length === 0) return;
    for (const cb of this.drainWaiters.splice(0)) cb();
  }
}
