/**
 * Test support for the `$` and EventRPC endpoints: a raw WebSocket client
 * that sends JSON, records every message received and waits for matches.
 * (TestClient in ./index.ts speaks Myko frames; this one speaks anything.)
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';

export type AnyMessage = Record<string, any>;

/** A ws client's TCP socket (ws's own `_socket`): pausing it makes a reader that stops reading, for backpressure tests. */
export const tcpSocketOf = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

export class JsonClient {
  readonly messages: AnyMessage[] = [];
  private waiters: { pred: (m: AnyMessage) => boolean; resolve: (m: AnyMessage) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as AnyMessage;
      this.messages.push(m);
      for (const w of [...this.waiters])
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  }

  /** The client's TCP socket (tcpSocketOf). */
  get socket(): Socket {
    return tcpSocketOf(this.ws);
  }

  static async connect(url: string): Promise<JsonClient> {
    const ws = new WebSocket(url);
    const c = new JsonClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  /** An object is sent as JSON; a string or Buffer as it is (to test bad input). */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** The first message (already received from index `from`, or future) matching `pred`. */
  next(pred: (m: AnyMessage) => boolean, timeoutMs = 3000, from = 0): Promise<AnyMessage> {
    for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return Promise.resolve(this.messages[i]!);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (m: AnyMessage) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a message; last: ${JSON.stringify(this.messages.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Wait for a message received after this call. */
  nextNew(pred: (m: AnyMessage) => boolean, timeoutMs = 3000): Promise<AnyMessage> {
    return this.next(pred, timeoutMs, this.messages.length);
  }

  /** Messages received so far that match `pred`. */
  all(pred: (m: AnyMessage) => boolean): AnyMessage[] {
    return this.messages.filter(pred);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

let envelopeSeq = 0;
/** An EventRPC envelope (seed 004) as a test client sends it; `cid` defaults to a fresh correlation id. */
export function eventRpcEnvelope(type: string, payload: unknown, cid = `c${++envelopeSeq}`): AnyMessage {
  return { version: 'v0.0.1', 'app-name': 'myko-test', 'app-id': 't', timestamp: Math.floor(Date.now() / 1000), 'correlation-id': cid, type, meta: {}, payload };
}
