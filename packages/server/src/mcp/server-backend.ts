import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { LiveWatches } from '../bridge/live-watches.js';
import type { ResultSet } from '../bridge/result-set.js';
import { runCommand } from '../commands/run-command.js';
import { QueryError } from '../live/live-queries.js';
import { ReportError } from '../live/live-reports.js';
import { ViewError } from '../live/live-views.js';
import { ConnectionLimits } from '../security/rate-limit.js';
import type { Registry } from '../core/registry.js';
import { McpToolError, type HistoryOutput, type ItemTypeSummary, type McpBackend, type QueryInput, type QueryOutput, type ViewInput } from './backend.js';

const output = (r: ResultSet): QueryOutput => ({ items: r.values(), totalCount: r.totalCount });

/**
 * The tools' backend inside the server, one per MCP session: the session is
 * a client of the live engines as a `$` or EventRPC socket is (LiveWatches,
 * the same translator), with the same limits (ConnectionLimits) and its
 * token's claims, which runCommand checks against the permission rules
 * exactly as for a command over /myko. Reads take no permission (as over /myko).
 */
export class ServerBackend implements McpBackend {
  readonly watches: LiveWatches;
  readonly limits: ConnectionLimits;

  constructor(
    private readonly ctx: ServerContext,
    claims: Record<string, unknown> | undefined,
    /** The session's client id (its Client item's id): commands run as this client. */
    readonly clientId: string = randomUUID(),
  ) {
    this.watches = new LiveWatches(ctx, clientId);
    this.watches.claims = claims;
    this.limits = new ConnectionLimits(ctx.config);
  }

  get registry(): Registry {
    return this.ctx.registry;
  }

  async itemTypes(): Promise<ItemTypeSummary[]> {
    const { state, registry } = this.ctx;
    const names = new Set([...state.itemTypes(), ...registry.itemTypeDefs().map((t) => t.name)]);
    return [...names].sort().map((name) => ({ name, count: state.count(name), persisted: registry.isPersistent(name) }));
  }

  private room(): void {
    const over = this.limits.liveRoom(this.watches.watchCount);
    if (over) throw new McpToolError(ErrorCode.TooManyQueries, over);
  }

  /** One-shot reads do not count against the live-query room: their live query ends before the call returns. */
  async query(q: QueryInput): Promise<QueryOutput> {
    let result: QueryOutput | undefined;
    let tx: string;
    try {
      tx = this.watches.watchQuery({ ...q, window: q.window }, { query: (r, first) => void (first && (result = output(r))) });
    } catch (err) {
      throw err instanceof QueryError ? new McpToolError(ErrorCode.BadQuery, err.message) : err;
    }
    this.watches.unwatch(tx);
    return result ?? { items: [], totalCount: 0 };
  }

  async view(v: ViewInput): Promise<QueryOutput> {
    let result: QueryOutput | undefined;
    let tx: string;
    try {
      tx = this.watches.watchView({ ...v, window: v.window }, { query: (r, first) => void (first && (result = output(r))) });
    } catch (err) {
      throw err instanceof ViewError ? new McpToolError(ErrorCode.BadQuery, err.message) : err;
    }
    this.watches.unwatch(tx);
    return result ?? { items: [], totalCount: 0 };
  }

  async report(reportId: string, params: Record<string, unknown>): Promise<unknown> {
    let value: unknown = null;
    let tx: string;
    try {
      tx = this.watches.watchReport(reportId, params, { report: (v, first) => void (first && (value = v)) });
    } catch (err) {
      if (!(err instanceof ReportError)) throw err;
      throw new McpToolError(err.message.startsWith('unknown report') ? ErrorCode.UnknownReport : ErrorCode.BadReport, err.message);
    }
    this.watches.unwatch(tx);
    return value;
  }

  async history(itemType: string, id: string): Promise<HistoryOutput> {
    const events = await this.ctx.store.readHistory(itemType, id);
    const current = this.ctx.state.get(itemType, id) ?? null;
    return { itemType, id, persisted: this.ctx.registry.isPersistent(itemType), current, events };
  }

  async command(commandId: string, params: Record<string, unknown>): Promise<unknown> {
    const outcome = await runCommand(this.ctx, { commandId, command: { ...params, tx: randomUUID() } }, this.clientId, { claims: this.watches.claims });
    if (!outcome.ok) throw new McpToolError(outcome.code, outcome.message);
    return outcome.response;
  }

  async watch(q: QueryInput, onChange: (result: QueryOutput) => void): Promise<() => void> {
    this.room();
    let tx: string;
    try {
      tx = this.watches.watchQuery({ ...q, window: q.window }, { query: (r, first) => void (!first && onChange(output(r))) });
    } catch (err) {
      throw err instanceof QueryError ? new McpToolError(ErrorCode.BadQuery, err.message) : err;
    }
    return () => void this.watches.unwatch(tx);
  }

  close(): void {
    this.watches.dispose();
  }
}
