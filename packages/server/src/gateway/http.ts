import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Dialect } from '@myko/protocol';
import type { ServerConfig } from '../config.js';

export interface WsRoute {
  path: string;
  accept(ws: WebSocket, req: IncomingMessage, dialect: Dialect | undefined): void;
}

export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

/** Subprotocols a client may offer to fix its dialect (WIRE.md 1.1 override). */
const dialectProtocols: Record<string, Dialect> = { 'myko.seed': 'seed', 'myko.current': 'current' };

/**
 * One port for everything: HTTP routes (health, metrics, the dashboard) and
 * WebSocket endpoints chosen by path. ws is the WebSocket implementation:
 * the most used and best-kept one for Node, with a strict, fast parser.
 */
export function createGateway(config: ServerConfig, wsRoutes: WsRoute[], httpRoutes: HttpRoute[]): { http: Server; wss: WebSocketServer } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.hardMaxFrameBytes,
    // Checked by the endpoint so a bad frame gets an error reply, not a closed socket.
    skipUTF8Validation: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => {
      for (const p of protocols) if (p in dialectProtocols) return p;
      return false;
    },
  });
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    for (const route of httpRoutes) if (route(req, res, url)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = wsRoutes.find((r) => r.path === url.pathname);
    if (!route) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const param = url.searchParams.get('dialect');
    if (param !== null && param !== 'seed' && param !== 'current') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\ndialect must be seed or current\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const dialect = (param as Dialect | null) ?? dialectProtocols[ws.protocol];
      route.accept(ws, req, dialect);
    });
  });
  return { http, wss };
}
