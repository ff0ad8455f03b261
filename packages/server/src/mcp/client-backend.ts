import type { MItem, QueryWindow } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import { McpToolError, type HistoryOutput, type ItemTypeSummary, type McpBackend, type QueryInput, type QueryOutput, type ViewInput } from './backend.js';

/**
 * What this backend uses of @myko/client's MykoClient. @myko/client is
 * imported at run time (`myko mcp` only): its tests build against this
 * package, so a compile-time reference from here would make the TypeScript
 * project graph circular.
 */
interface Live<V> {
  subscribe(next: (value: V) => void, error?: (error: Error) => void, end?: () => void): () => void;
}
interface QueryResultLike {
  readonly items: ReadonlyMap<string, MItem>;
  readonly totalCount: number;
}
export interface MykoClientLike {
  connected(): Promise<unknown>;
  watchQuery(spec: { queryId: string; queryItemType: string; params?: Record<string, unknown>; window?: QueryWindow }): Live<QueryResultLike>;
  watchView(spec: { viewId: string; viewItemType: string; params?: Record<string, unknown>; window?: QueryWindow }): Live<QueryResultLike>;
  watchReport(spec: { reportId: string; params?: Record<string, unknown> }): Live<unknown>;
  sendCommand(commandId: string, params: object): Promise<unknown>;
  close(): void;
}

/** How long a one-shot read waits for the server's first answer. */
const firstAnswerMs = 15_000;

const sorted = (items: ReadonlyMap<string, MItem>): MItem[] => [...items.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const output = (r: QueryResultLike): QueryOutput => ({ items: sorted(r.items), totalCount: r.totalCount });

/**
 * A client error as a tool error with the server's code: a command error
 * carries it; query and report errors are text whose message may lead with
 * it (`MYKO_TOO_MANY_QUERIES: ...`). The client's own codes (MYKO_CLIENT_*)
 * say nothing about the request: `fallback` then.
 */
function toolError(err: unknown, fallback: string): McpToolError {
  const e = err as Error & { code?: unknown };
  const lead = /^([A-Z][A-Z0-9_]+):/.exec(e.message)?.[1];
  const code = lead ?? (typeof e.code === 'string' && !e.code.startsWith('MYKO_CLIENT_') ? e.code : fallback);
  return new McpToolError(code, e.message);
}

/**
 * The tools' backend for `myko mcp --url`: a Myko client of a running
 * server. Reads are live queries and reports over the WebSocket (read once,
 * then cancelled), commands are commands, and what the wire protocol has no
 * message for (item counts, history) comes from the server's HTTP API
 * (/api/stats, /api/history) with the same token. What is registered (for the
 * tools' schemas) is `registry`, built from the same plugins as the server's.
 */
export class ClientBackend implements McpBackend {
  private readonly stops = new Set<() => void>();
  private readonly httpBase: string;

  constructor(
    readonly registry: Registry,
    private readonly client: MykoClientLike,
    url: string,
    private readonly token: string | undefined,
  ) {
    const u = new URL(url);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    u.pathname = '';
    u.search = '';
    this.httpBase = u.origin;
  }

  /** The first value of a live watch, then cancelled. */
  private first<V>(live: Live<V>, fallback: string): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      let stop: (() => void) | undefined;
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
        queueMicrotask(() => stop?.());
      };
      const timer = setTimeout(() => finish(() => reject(new McpToolError('MYKO_TIMEOUT', `the server did not answer within ${firstAnswerMs} ms`))), firstAnswerMs);
      stop = live.subscribe(
        (v) => finish(() => resolve(v)),
        (err) => finish(() => reject(toolError(err, fallback))),
        () => finish(() => reject(new McpToolError('MYKO_CLIENT_CLOSED', 'the connection to the server was closed'))),
      );
      if (done) stop();
    });
  }

  private async get(path: string): Promise<Response> {
    const res = await fetch(`${this.httpBase}${path}`, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new McpToolError(body.code ?? `HTTP_${res.status}`, body.message ?? `${path}: HTTP ${res.status}`);
    }
    return res;
  }

  async itemTypes(): Promise<ItemTypeSummary[]> {
    // /api/stats is a stream of snapshots: its first event says what the server holds.
    const ac = new AbortController();
    const res = await fetch(`${this.httpBase}/api/stats`, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {}, signal: ac.signal });
    if (!res.ok || !res.body) throw new McpToolError(`HTTP_${res.status}`, `/api/stats: HTTP ${res.status}`);
    let text = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        const m = /^data: (.*)$/m.exec(text);
        if (m && text.includes('\n\n', m.index)) {
          const stats = JSON.parse(m[1]!) as { itemTypes: ItemTypeSummary[] };
          const byName = new Map(stats.itemTypes.map((t) => [t.name, { name: t.name, count: t.count, persisted: t.persisted }]));
          for (const t of this.registry.itemTypeDefs()) if (!byName.has(t.name)) byName.set(t.name, { name: t.name, count: 0, persisted: t.persist !== false });
          return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
        }
      }
    } finally {
      ac.abort();
    }
    throw new McpToolError('MYKO_INTERNAL', '/api/stats ended before its first snapshot');
  }

  async query(q: QueryInput): Promise<QueryOutput> {
    const r = await this.first(this.client.watchQuery(spec(q)), 'MYKO_BAD_QUERY');
    return output(r);
  }

  async view(v: ViewInput): Promise<QueryOutput> {
    // The server finds a view by its id; the client's spec wants its item type too, which the registry knows.
    const viewItemType = this.registry.view(v.viewId)?.def.itemType ?? v.viewId;
    const spec = { viewId: v.viewId, viewItemType, params: v.params, ...(v.window ? { window: v.window } : {}) };
    return output(await this.first(this.client.watchView(spec), 'MYKO_BAD_QUERY'));
  }

  report(reportId: string, params: Record<string, unknown>): Promise<unknown> {
    return this.first(this.client.watchReport({ reportId, params }), 'MYKO_BAD_REPORT');
  }

  async history(itemType: string, id: string): Promise<HistoryOutput> {
    const res = await this.get(`/api/history/${encodeURIComponent(itemType)}/${encodeURIComponent(id)}`);
    return (await res.json()) as HistoryOutput;
  }

  async command(commandId: string, params: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.client.sendCommand(commandId, params);
    } catch (err) {
      throw toolError(err, 'MYKO_COMMAND_FAILED');
    }
  }

  async watch(q: QueryInput, onChange: (result: QueryOutput) => void): Promise<() => void> {
    let seen = false;
    let stop: () => void = () => undefined;
    await new Promise<void>((resolve, reject) => {
      stop = this.client.watchQuery(spec(q)).subscribe(
        (r) => {
          if (seen) return onChange(output(r));
          seen = true;
          resolve();
        },
        (err) => (seen ? undefined : reject(toolError(err, 'MYKO_BAD_QUERY'))),
      );
    });
    this.stops.add(stop);
    return () => {
      this.stops.delete(stop);
      stop();
    };
  }

  close(): void {
    for (const stop of this.stops) stop();
    this.stops.clear();
  }
}

const spec = (q: QueryInput) => ({ queryId: q.queryId, queryItemType: q.itemType, params: q.params, ...(q.window ? { window: q.window } : {}) });
