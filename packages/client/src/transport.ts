/**
 * The only thing the client needs from a WebSocket implementation. The core
 * never touches a platform socket directly, so it runs wherever an adapter
 * exists: `browserTransport` (here, `globalThis.WebSocket`) and
 * `nodeTransport` (`@myko/client/node`, the `ws` package). Tests can pass a
 * fake or a wrapper (e.g. to count frames) through the same door.
 *
 * Adapters normalise incoming data: text frames arrive as `string`, binary
 * frames as `Uint8Array`, whatever the platform's own types are.
 */
export interface TransportHandlers {
  onOpen(): void;
  onMessage(data: string | Uint8Array): void;
  /** Called exactly once per socket, also when it never opened. */
  onClose(code: number, reason: string): void;
  /** Informational: a close always follows. */
  onError(error: unknown): void;
}

export interface TransportSocket {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Open a socket to `url` and report what happens to it through `handlers`. */
export type Transport = (url: string, handlers: TransportHandlers) => TransportSocket;

/** The subset of the DOM WebSocket the browser adapter uses (also met by Node 22's global WebSocket). */
interface DomLikeWebSocket {
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

type DomWebSocketCtor = new (url: string) => DomLikeWebSocket;

/**
 * Adapter over a DOM-style WebSocket constructor (default: the global one).
 * Resolved at connect time, not import time, so importing the client in an
 * environment without WebSocket (e.g. Node 20 with the node adapter) is safe.
 */
export function domTransport(ctor?: DomWebSocketCtor): Transport {
  return (url, h) => {
    const Ctor = ctor ?? (globalThis as { WebSocket?: DomWebSocketCtor }).WebSocket;
    if (!Ctor)
      throw new TypeError('no global WebSocket in this environment: in Node pass `transport: nodeTransport` from @myko/client/node');
    const ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    let closed = false;
    ws.onopen = () => h.onOpen();
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (typeof d === 'string') h.onMessage(d);
      else if (d instanceof ArrayBuffer) h.onMessage(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) h.onMessage(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    };
    ws.onerror = (ev) => h.onError(ev);
    ws.onclose = (ev) => {
      if (closed) return;
      closed = true;
      h.onClose(ev.code, ev.reason);
    };
    return {
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
    };
  };
}

/** The default: `globalThis.WebSocket`, as in every browser. */
export const browserTransport: Transport = domTransport();
