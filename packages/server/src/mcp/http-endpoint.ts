import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { HttpRoute } from '../gateway/http.js';
import { authenticate, sendJson } from '../ops/api.js';
import { clientItem, retireClosed } from '../lifecycle/clients.js';
import { McpToolError } from './backend.js';
import { createMcpServer, type McpMode } from './mcp-server.js';
import { ServerBackend } from './server-backend.js';

/** A session with no request and no open stream for this long is closed (an agent that went away without DELETE). */
const idleMs = 30 * 60_000;

interface Session {
  id: string;
  backend: ServerBackend;
  mcp: McpServer;
  transport: StreamableHTTPServerTransport;
  /** `sub` of the token that opened it: later requests must carry a token of the same subject. */
  subject: unknown;
  lastSeen: number;
  openStreams: number;
  closed: boolean;
}

/**
 * `/mcp`: the Model Context Protocol for AI agents, streamable HTTP transport
 * (the official SDK's), on the server's own port.
 *
 *   request ─ token? (as /api/*) ─ session? ─ body ≤ maxFrameBytes ─ transport ─ McpServer ─ tools ─ ServerBackend
 *
 * With authentication on, every request needs a token exactly as /api/* does
 * (401 otherwise), and a session is bound to the subject that opened it. Each
 * session is one client of the server: it has a Client item (`protocol:
 * "mcp"`), its token's claims go through the permission rules on every
 * command, and it has a Myko connection's limits (ConnectionLimits): each
 * tool call, resource read and subscription is one message; a session that
 * keeps exceeding them is closed.
 */
export class McpEndpoint {
  private readonly sessions = new Map<string, Session>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly mode: McpMode,
    private readonly version: string,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  readonly route: HttpRoute = (req, res, url) => {
    if (url.pathname !== '/mcp') return false;
    this.handle(req, res, url).catch((err: Error) => {
      this.ctx.log.error({ err }, 'MCP request failed');
      if (!res.headersSent) sendJson(res, 500, { code: 'MYKO_INTERNAL', message: err.message });
      else res.destroy();
    });
    return true;
  };

  private async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { ctx } = this;
    if (ctx.stopping) return sendJson(res, 503, { code: ErrorCode.ShuttingDown, message: 'the server is shutting down' });
    const caller = await authenticate(ctx, req, res, url);
    if (!caller) return;
    const header = req.headers['mcp-session-id'];
    const sid = Array.isArray(header) ? header[0] : header;
    let session: Session | undefined;
    if (sid !== undefined) {
      session = this.sessions.get(sid);
      // The SDK client reads 404 as "start a new session".
      if (!session) return sendJson(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'session not found' }, id: null });
      if (session.subject !== caller.claims?.sub)
        return sendJson(res, 403, { code: ErrorCode.Forbidden, message: 'this MCP session belongs to another subject' });
    }
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readBody(req, ctx.config.maxFrameBytes);
      if (read.tooLarge) return sendJson(res, 413, { code: ErrorCode.FrameTooLarge, message: `request body exceeds the limit of ${ctx.config.maxFrameBytes} bytes` });
      try {
        body = JSON.parse(read.text);
      } catch (err) {
        return sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: `parse error: ${(err as Error).message}` }, id: null });
      }
    }
    if (!session) {
      if (req.method !== 'POST')
        return sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32000, message: 'no session: POST an initialize request first' }, id: null });
      if (this.sessions.size >= ctx.config.maxConnections)
        return sendJson(res, 503, { code: 'MYKO_SERVER_FULL', message: `the server holds its maximum of ${ctx.config.maxConnections} MCP sessions` });
      session = await this.open(caller.claims, req.socket.remoteAddress ?? 'unknown');
    }
    session.lastSeen = Date.now();
    if (req.method === 'GET') {
      // The standalone stream (server notifications, e.g. resource updates) keeps the session alive while open.
      session.openStreams++;
      res.on('close', () => {
        session!.openStreams--;
        session!.lastSeen = Date.now();
      });
    }
    await session.transport.handleRequest(req, res, body);
    // An initialize the transport refused leaves a session that never got an id: nothing else can reach it.
    if (session.transport.sessionId === undefined) this.close(session, false);
  }

  private async open(claims: Record<string, unknown> | undefined, address: string): Promise<Session> {
    const ctx = this.ctx;
    const backend = new ServerBackend(ctx, claims);
    // The transport's and the server's callbacks need the session they belong to: it is complete before any runs.
    let session!: Session;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => backend.clientId,
      onsessioninitialized: (id) => {
        this.sessions.set(id, session);
        this.timer ??= setInterval(() => this.sweep(), 60_000).unref();
        ctx.log.info({ clientId: id, address, protocol: 'mcp' }, 'connection open');
        const item = { ...clientItem(ctx, id, address, new Date().toISOString()), protocol: 'mcp' };
        void ctx
          .emit([{ itemType: 'Client', changeType: 'SET', item }], { serverId: ctx.serverId })
          .catch((err) => ctx.log.error({ err, clientId: id }, 'could not record Client item'));
      },
      onsessionclosed: () => this.close(session, true),
    });
    const mcp = createMcpServer({
      backend,
      mode: this.mode,
      version: this.version,
      admit: () => {
        const limited = backend.limits.message();
        if (!limited) return undefined;
        // Closed after this answer: the agent reads why, then finds its session gone (404).
        if (limited.close) setImmediate(() => this.close(session, true));
        return new McpToolError(ErrorCode.RateLimited, limited.message);
      },
    });
    session = { id: backend.clientId, backend, mcp, transport, subject: claims?.sub, lastSeen: Date.now(), openStreams: 0, closed: false };
    transport.onclose = () => this.close(session, true);
    await mcp.connect(transport);
    return session;
  }

  /** End a session: its watches, its transport, and (`retire`) its Client item. */
  private close(session: Session, retire: boolean): void {
    if (session.closed) return;
    session.closed = true;
    const ctx = this.ctx;
    const known = this.sessions.delete(session.id);
    session.backend.close();
    void session.mcp.close().catch(() => undefined);
    if (this.sessions.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (!known) return;
    ctx.log.info({ clientId: session.id, protocol: 'mcp' }, 'connection closed');
    if (!retire || ctx.stopping) return; // at shutdown the next boot reaps it, as for every connection
    void retireClosed(ctx, session.id);
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) if (s.openStreams === 0 && now - s.lastSeen > idleMs) this.close(s, true);
  }

  /** At shutdown: every session ends (their Client items are reaped at the next boot). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.close(s, false);
  }
}

async function readBody(req: IncomingMessage, max: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return { text: '', tooLarge: true };
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: false };
}
