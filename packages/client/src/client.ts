import {
  Kind,
  type CommandErrorData,
  type CommandResponseData,
  type MCommand,
  type MItem,
  type QueryDiff,
  type QueryErrorData,
  type ReportErrorData,
  type ReportResponseData,
  type ViewErrorData,
  type WireError,
} from '@myko/protocol';
import type { WireFrame } from './codec.js';
import {
  Commands,
  type CommandHandler,
  type CommandParams,
  type CommandResponse,
  type DefaultCommands,
  type SendCommandOptions,
} from './commands.js';
import { Connection } from './connection.js';
import { ClientClosedError, ClientErrorCode, MykoClientError, QueueFullError, ServerError } from './errors.js';
import { frameProblem } from './frame-shapes.js';
import { EventBatcher } from './events.js';
import { randomId } from './ids.js';
import { resolveOptions, type MykoClientOptions, type ResolvedOptions } from './options.js';
import { LiveQueries, type LiveQuery, type LiveQueryDiff } from './queries.js';
import { countOf, typeName, viewAsQuery, type ItemLike, type ItemTypeRef, type QuerySpec, type ReportSpec, type ViewSpec } from './query-spec.js';
import { LiveReports, type LiveReport } from './reports.js';
import type { ConnectionStatus } from './status.js';

/** The connection status as the app sees it: read, subscribe, iterate, await. */
export interface StatusWatch extends AsyncIterable<ConnectionStatus> {
  readonly current: ConnectionStatus;
  /** Called at once with the current status, then on each change. Returns the unsubscribe. */
  subscribe(cb: (s: ConnectionStatus) => void): () => void;
  /** Resolves when a status matching `pred` is reached (at once if the current one does). */
  until(pred: (s: ConnectionStatus) => boolean): Promise<ConnectionStatus>;
}

/**
 * A Myko client: one logical connection (reconnecting, failing over) with
 * live queries, reports, commands both ways, and batched events.
 *
 * `Out` types the commands this client sends (`sendCommand`), `In` those the
 * server sends it (`onCommand`): maps of command id → `{params, response}`.
 */
export class MykoClient<Out extends object = DefaultCommands, In extends object = DefaultCommands> {
  private readonly opts: ResolvedOptions;
  private readonly conn: Connection;
  private readonly queries: LiveQueries;
  private readonly views: LiveQueries;
  private readonly reports: LiveReports;
  private readonly commands: Commands;
  private readonly events: EventBatcher;
  private readonly errorListeners = new Set<(e: Error) => void>();

  constructor(options: MykoClientOptions) {
    this.opts = resolveOptions(options);
    const self = this;
    // Everything but events goes through `out`, which sends pending events first (read-your-writes).
    const sendIfOpen = (f: WireFrame) => {
      this.events.flush();
      this.conn.sendIfOpen(f);
    };
    this.queries = new LiveQueries(sendIfOpen);
    this.views = new LiveQueries(sendIfOpen, 'view');
    this.reports = new LiveReports(sendIfOpen);
    this.events = new EventBatcher(this.opts.maxBatchEvents, this.opts.immediateTypes, (f) => this.sendQueued(f));
    this.commands = new Commands(
      {
        get isOpen() {
          return self.conn.isOpen;
        },
        get isClosed() {
          return self.conn.isClosed;
        },
        send: (f) => {
          this.events.flush();
          this.conn.send(f);
        },
        sendIfOpen,
        withdraw: (f) => this.conn.withdraw(f),
      },
      this.opts.commandTimeoutMs,
    );
    this.conn = new Connection(this.opts, {
      onOpen: () => {
        this.commands.onOpen();
        this.queries.onOpen();
        this.views.onOpen();
        this.reports.onOpen();
      },
      onFrame: (f) => this.receive(f),
      onLost: (url) => this.commands.onLost(url),
      onClosed: () => this.shutdown(),
      onError: (e) => this.emitError(e),
    });
  }

  /** Where the connection stands; `for await (const s of client.status)` or `client.status.subscribe(cb)`. */
  get status(): StatusWatch {
    return this.conn.status;
  }

  /** The id the server gave this connection (changes on every reconnect); undefined while not connected. */
  get clientId(): string | undefined {
    return this.conn.clientId;
  }

  /** Resolves once connected (at once if connected now); rejects if the client closes first. */
  async connected(): Promise<Extract<ConnectionStatus, { type: 'connected' }>> {
    const s = await this.conn.status.until((x) => x.type === 'connected' || x.type === 'closed');
    if (s.type !== 'connected') throw new ClientClosedError('closed before it connected');
    return s;
  }

  /** A live query: whole results, as callbacks or an async iterator. */
  watchQuery<T extends ItemLike = MItem>(query: QuerySpec<T>): LiveQuery<T> {
    return this.queries.watch(query);
  }

  /** A live query's raw changes (`reset` marks a full snapshot that replaces what you hold). */
  watchQueryDiff<T extends ItemLike = MItem>(query: QuerySpec<T>): LiveQueryDiff<T> {
    return this.queries.watchDiff(query);
  }

  /**
   * A live view (server-defined, WIRE.md 6.3): whole results, like a query.
   * With a `window`, `values` follow the server's page order; move the page
   * with `setWindow` on the handle. After a reconnect it is re-sent with its
   * tx and its sequence-0 answer replaces what is held. A `ws:m:view-error`
   * ends it with a ViewError.
   */
  watchView<T extends ItemLike = MItem>(spec: ViewSpec<T>): LiveQuery<T> {
    return this.views.watch(viewAsQuery(spec));
  }

  /** A live view's raw changes (`reset` marks a full snapshot that replaces what you hold). */
  watchViewDiff<T extends ItemLike = MItem>(spec: ViewSpec<T>): LiveQueryDiff<T> {
    return this.views.watchDiff(viewAsQuery(spec));
  }

  watchReport<R = unknown>(report: ReportSpec<R>): LiveReport<R> {
    return this.reports.watch(report);
  }

  /** Live count of the items of a type (`Get${itemType}sCount`). */
  watchCount(itemType: string | ItemTypeRef<ItemLike>): LiveReport<number> {
    return this.reports.watch(countOf(itemType));
  }

  /** Run a command on the server; resolves with its response. */
  sendCommand<K extends keyof Out & string>(
    commandId: K,
    params: CommandParams<Out, K>,
    options?: SendCommandOptions,
  ): Promise<CommandResponse<Out, K>> {
    return this.commands.send(commandId, params as object, options) as Promise<CommandResponse<Out, K>>;
  }

  /** Answer commands the server sends this client. The handler's value is the response; a throw becomes `ws:m:command-error`. */
  onCommand<K extends keyof In & string>(commandId: K, handler: CommandHandler<CommandParams<In, K>, CommandResponse<In, K>>): () => void {
    return this.commands.register(commandId, handler as CommandHandler<never, unknown>);
  }

  /**
   * Store an item (SET). Batched with the other events of this microtask.
   * Given an `itemType<T>(name)` ref, `item` must be a `T`.
   */
  set<T extends ItemLike>(itemType: ItemTypeRef<T>, item: NoInfer<T>): void;
  set<T extends ItemLike>(itemType: string, item: T): void;
  set(itemType: string | ItemTypeRef<ItemLike>, item: ItemLike): void {
    this.event(typeName(itemType), 'SET', item as unknown as MItem);
  }

  /** Delete an item (DEL); only its `id` matters. */
  del<T extends ItemLike>(itemType: string | ItemTypeRef<T>, item: T | ItemLike): void {
    this.event(typeName(itemType), 'DEL', item as unknown as MItem);
  }

  /** Send batched events now instead of at the end of the microtask. */
  flush(): void {
    this.events.flush();
  }

  /**
   * Errors that belong to no call: `ws:m:error` frames the server sends about
   * events, undecodable frames, transport failures. Returns the unsubscribe.
   */
  onError(cb: (e: Error) => void): () => void {
    this.errorListeners.add(cb);
    return () => this.errorListeners.delete(cb);
  }

  /** Close for good: pending commands reject with ClientClosedError, watchers and iterators end. */
  close(): void {
    this.events.flush();
    this.conn.close();
  }

  private event(itemType: string, changeType: 'SET' | 'DEL', item: MItem): void {
    if (this.conn.isClosed) throw new ClientClosedError(`cannot ${changeType} ${itemType}`);
    if (!this.conn.isOpen && this.events.framesWith(itemType) > this.conn.queueRoom) throw new QueueFullError(this.opts.maxQueuedFrames);
    this.events.add({ itemType, changeType, item, createdAt: new Date().toISOString(), tx: randomId() });
  }

  private sendQueued(f: WireFrame): void {
    try {
      this.conn.send(f);
    } catch (err) {
      this.emitError(err as Error);
    }
  }

  /** A decoded frame: checked for the shape its kind needs, then routed; never throws into the socket handler. */
  private receive(f: WireFrame): void {
    const problem = frameProblem(f.event, f.data);
    if (problem) return this.emitError(new MykoClientError(`malformed ${f.event} from the server: ${problem}`, ClientErrorCode.BadFrame));
    try {
      this.route(f);
    } catch (err) {
      this.emitError(new MykoClientError(`handling ${f.event} from the server failed: ${(err as Error).message}`, ClientErrorCode.BadFrame, { cause: err }));
    }
  }

  private route(f: WireFrame): void {
    switch (f.event) {
      case Kind.QueryResponse:
        return this.queries.onResponse(f.data as QueryDiff);
      case Kind.QueryError:
        return this.queries.onError(f.data as QueryErrorData);
      case Kind.ViewResponse:
        return this.views.onResponse(f.data as QueryDiff);
      case Kind.ViewError:
        return this.views.onError(f.data as ViewErrorData);
      case Kind.ReportResponse:
        return this.reports.onResponse(f.data as ReportResponseData);
      case Kind.ReportError:
        return this.reports.onError(f.data as ReportErrorData);
      case Kind.CommandResponse:
        return this.commands.onResponse(f.data as CommandResponseData);
      case Kind.CommandError:
        return this.commands.onError(f.data as CommandErrorData);
      case Kind.Command:
        return this.commands.onIncoming(f.data as MCommand);
      case Kind.Error: {
        const err = new ServerError(f.data as WireError);
        if (err.tx !== undefined && this.commands.onServerError(err.tx, err)) return;
        return this.emitError(err);
      }
      default:
        return; // ping echoes and kinds we do not know
    }
  }

  private emitError(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    for (const cb of [...this.errorListeners]) {
      try {
        cb(err);
      } catch {
        // a listener's bug is not ours to report again
      }
    }
  }

  private shutdown(): void {
    this.events.clear();
    this.commands.closeAll();
    this.queries.closeAll();
    this.views.closeAll();
    this.reports.closeAll();
  }
}
