/**
 * Test helpers: a transport that records every frame the client sends and
 * receives (so tests can count frames on the real wire), a client with fast
 * reconnects, free ports, and polling waits.
 */
import { createServer } from 'node:net';
import { Decoder } from 'cbor-x';
import { MykoClient, nodeTransport, type MykoClientOptions, type Transport } from '../node.js';

const cbor = new Decoder({ useRecords: false, mapsAsObjects: true });

export interface RecordedFrame {
  event: string;
  data: any;
  binary: boolean;
}

export interface Recorder {
  transport: Transport;
  sent: RecordedFrame[];
  received: RecordedFrame[];
  /** Sockets opened so far (one per connection attempt that got a socket object). */
  sockets: number;
}

const decode = (d: string | Uint8Array): RecordedFrame => {
  const v = typeof d === 'string' ? JSON.parse(d) : cbor.decode(d);
  return { event: v.event, data: v.data, binary: typeof d !== 'string' };
};

/** nodeTransport with a tap on both directions. */
export function recorder(inner: Transport = nodeTransport): Recorder {
  const r: Recorder = {
    sent: [],
    received: [],
    sockets: 0,
    transport: (url, h) => {
      r.sockets++;
      const sock = inner(url, { ...h, onMessage: (d) => (r.received.push(decode(d)), h.onMessage(d)) });
      return { send: (d) => (r.sent.push(decode(d)), sock.send(d)), close: (c, why) => sock.close(c, why) };
    },
  };
  return r;
}

const open = new Set<MykoClient<any, any>>();

/**
 * Close every client a test made, even those of a failed test: an open socket
 * or timer would keep the test file's process alive and hang the runner.
 * Each test file calls this from `after()`.
 */
export function closeClients(): void {
  for (const c of open) c.close();
  open.clear();
}

/** A client on the Node transport with quick, bounded reconnects for tests. */
export function testClient<Out extends object = any, In extends object = any>(opts: MykoClientOptions): MykoClient<Out, In> {
  const client = new MykoClient<Out, In>({
    transport: nodeTransport,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    connectTimeoutMs: 2000,
    ...opts,
  });
  open.add(client);
  return client;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Poll until `pred` holds; fail with `what` after `timeoutMs`. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolve with the first value a subscribable gives that matches `pred`. */
export function valueWhere<V>(
  handle: { subscribe(next: (v: V) => void, error?: (e: Error) => void): () => void },
  pred: (v: V) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<V> {
  return new Promise((resolve, reject) => {
    let unsub: (() => void) | undefined;
    let done = false;
    let last: V | undefined;
    const timer = setTimeout(() => {
      done = true;
      unsub?.();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last, replacer)}`));
    }, timeoutMs);
    unsub = handle.subscribe(
      (v) => {
        last = v;
        if (done || !pred(v)) return;
        done = true;
        clearTimeout(timer);
        queueMicrotask(() => unsub?.());
        resolve(v);
      },
      (e) => {
        done = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

const replacer = (_k: string, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v);
