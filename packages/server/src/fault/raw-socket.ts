/**
 * A WebSocket for the fault tests that records everything the server sends
 * and never throws on it: a reply that does not decode is recorded as a
 * failure for the test to report, not an exception in a socket callback.
 * Text is JSON; binary is CBOR (a Myko connection answers in CBOR after the
 * client's first binary frame).
 */
import WebSocket from 'ws';
import { Decoder } from 'cbor-x';

const cbor = new Decoder({ useRecords: false, mapsAsObjects: true });

export type Msg = Record<string, any>;

export class RawSocket {
  readonly messages: Msg[] = [];
  /** Replies that could not be decoded, or came in a form the endpoint must not use. */
  readonly undecodable: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | undefined;
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];

  private constructor(
    readonly ws: WebSocket,
    readonly textOnly: boolean,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let m: Msg;
      try {
        if (isBinary && textOnly) throw new Error('a binary reply on a JSON-only endpoint');
        m = (isBinary ? cbor.decode(data) : JSON.parse(data.toString('utf8'))) as Msg;
      } catch (err) {
        this.undecodable.push(`${(err as Error).message}: ${data.subarray(0, 200).toString('hex')}`);
        return;
      }
      this.messages.push(m);
      for (const w of [...this.waiters])
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
    });
    // Errors surface as the close; without a listener an 'error' event would be thrown.
    ws.on('error', () => undefined);
    this.closed = new Promise((r) =>
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        r(this.closeInfo);
      }),
    );
  }

  static async connect(url: string, opts: { textOnly?: boolean; maxPayload?: number } = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { maxPayload: opts.maxPayload ?? 256 * 1024 * 1024 });
    const s = new RawSocket(ws, opts.textOnly ?? false);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', (code) => reject(new Error(`closed with ${code} while connecting to ${url}`)));
      ws.once('error', reject);
    });
    return s;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer | object, binary = false): void {
    if (!this.open) return;
    if (typeof data === 'string' || Buffer.isBuffer(data)) this.ws.send(data, { binary });
    else this.ws.send(JSON.stringify(data));
  }

  /** The first message (already received, from index `from`, or future) matching `pred`; rejects on timeout or close. */
  next(pred: (m: Msg) => boolean, timeoutMs = 5000, from = 0): Promise<Msg> {
    for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return Promise.resolve(this.messages[i]!);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Msg) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a message; last: ${JSON.stringify(this.messages.slice(-3)).slice(0, 1000)}`));
      }, timeoutMs);
      this.waiters.push(w);
      void this.closed.then((c) => {
        if (!this.waiters.includes(w)) return;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(t);
        reject(new Error(`socket closed (${c.code} ${c.reason}) while waiting for a message`));
      });
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}
