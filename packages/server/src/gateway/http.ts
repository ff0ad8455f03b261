import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Dialect } from '@myko/protocol';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { AuthError, tokenFromRequest, type Authenticator, type Claims } from '../security/auth.js';

export interface WsRoute {
  path: string;
  /** `claims`: the handshake token's, when authentication is on and one was given. */
  accept(ws: WebSocket, req: IncomingMessage, dialect: Dialect | undefined, claims: Claims | undefined): void;
}

export interface GatewayGuards {
  auth: Authenticator | undefined;
  log: Logger;
  /** True once shutdown began: a new connection would be retired before it could do anything. */
  stopping?: () => boolean;
}

/** Refuse an upgrade with an HTTP status and a JSON body `{code, message}`. */
function refuse(socket: Duplex, status: string, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/**
 * The request target as a URL, or undefined when it is not one: `GET // HTTP/1.1` is a valid request
 * line, but '//' is a scheme-relative URL with no host, and `new URL` throws on it. Thrown there, in
 * the HTTP server's event handler, it stopped the process (found by fault/http-fuzz.int.test.ts).
 */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}
const badTarget = { code: 'MYKO_BAD_REQUEST', message: 'the request target is not a valid path' } as const;

export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

/** Subprotocols a client may offer to fix its dialect (WIRE.md 1.1 override). */
const dialectProtocols: Record<string, Dialect> = { 'myko.seed': 'seed', 'myko.current': 'current' };

/**
 * One port for everything: HTTP routes (health, metrics, the dashboard) and
 * WebSocket endpoints chosen by path. ws is the WebSocket implementation:
 * the most used and best-kept one for Node, with a strict, fast parser.
 */
export function createGateway(config: ServerConfig, wsRoutes: WsRoute[], httpRoutes: HttpRoute[], guards?: GatewayGuards): { http: Server; wss: WebSocketServer } {
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
    const url = requestUrl(req);
    if (!url) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(badTarget));
    for (const route of httpRoutes) if (route(req, res, url)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = requestUrl(req);
    if (!url) return refuse(socket, '400 Bad Request', badTarget.code, badTarget.message);
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
    // ws tracks every socket it accepted, on every endpoint.
    if (guards && wss.clients.size >= config.maxConnections) {
      guards.log.warn({ address: req.socket.remoteAddress, max: config.maxConnections }, 'connection refused: server full');
      return refuse(socket, '503 Service Unavailable', 'MYKO_SERVER_FULL', `the server holds its maximum of ${config.maxConnections} connections`);
    }
    // Checked before the token check and again after it: a token check can outlast the start of shutdown.
    const refusedStopping = (): boolean => {
      if (guards?.stopping?.() !== true) return false;
      refuse(socket, '503 Service Unavailable', 'MYKO_SHUTTING_DOWN', 'the server is shutting down');
      return true;
    };
    if (refusedStopping()) return;
    const upgrade = (claims: Claims | undefined): void => {
      if (refusedStopping()) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        // The usual `ws` pattern for noServer: listeners such as the heartbeat learn of every socket.
        wss.emit('connection', ws, req);
        const dialect = (param as Dialect | null) ?? dialectProtocols[ws.protocol];
        route.accept(ws, req, dialect, claims);
      });
    };
    const auth = guards?.auth;
    if (!auth) return upgrade(undefined);
    const token = tokenFromRequest(req.headers, url);
    if (!token) {
      if (auth.allowAnonymous) return upgrade(undefined);
      guards.log.warn({ address: req.socket.remoteAddress, path: url.pathname }, 'connection refused: no token');
      return refuse(socket, '401 Unauthorized', 'MYKO_UNAUTHORIZED', 'a token is required: Authorization: Bearer <jwt> or ?access_token=<jwt>');
    }
    auth.verify(token).then(upgrade, (err: Error) => {
      guards.log.warn({ address: req.socket.remoteAddress, path: url.pathname, reason: err.message }, 'connection refused: bad token');
      refuse(socket, '401 Unauthorized', err instanceof AuthError ? err.code : 'MYKO_UNAUTHORIZED', err.message);
    });
  });
  return { http, wss };
}
