/**
 * `@myko/client/node`: the Node adapter. Node 20 has no global WebSocket, so
 * this subpath brings the `ws` package; the main entry never imports it, which
 * keeps `ws` and Node built-ins out of browser bundles.
 *
 *   import { MykoClient, nodeTransport } from '@myko/client/node';
 *   const client = new MykoClient({ url, transport: nodeTransport });
 */
import WebSocket from 'ws';
import type { Transport } from './transport.js';

export const nodeTransport: Transport = (url, h) => {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let closed = false;
  ws.on('open', () => h.onOpen());
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    h.onMessage(isBinary ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf.toString('utf8'));
  });
  ws.on('error', (err) => h.onError(err));
  ws.on('close', (code, reason) => {
    if (closed) return;
    closed = true;
    h.onClose(code, reason.toString());
  });
  return {
    send: (data) => ws.send(data),
    close: (code, reason) => {
      // A socket still connecting cannot send a close frame; ws throws on close() then in older versions.
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    },
  };
};

export * from './index.js';
