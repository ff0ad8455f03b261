import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { WebSocketServer } from 'ws';
import { CloseCode, ErrorCode, type MItem } from '@myko/protocol';
import { resolveConfig, type ServerConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { Registry, type EventInput, type MykoPlugin } from './core/registry.js';
import { State, type Change } from './core/state.js';
import { Backrefs } from './core/backrefs.js';
import { Writer } from './core/writer.js';
import { Checkpointer } from './core/checkpointer.js';
import { normalizeEvent, type Origin } from './core/normalize.js';
import { LiveQueries } from './live/live-queries.js';
import { LiveReports } from './live/live-reports.js';
import { LiveViews } from './live/live-views.js';
import { SqliteEventStore } from './store/sqlite/index.js';
import type { Checkpoint, EventStore, NewEvent, StoredEvent } from './store/event-store.js';
import { StoreError, replayAfter } from './store/event-store.js';
import { verifyLog, type VerifyResult } from './log/verify.js';
import { createGateway } from './gateway/http.js';
import { Ops } from './ops/index.js';
import { MykoEndpoint } from './gateway/myko-endpoint.js';
import { Heartbeat } from './gateway/heartbeat.js';
import { ModelsEndpoint } from './models/models-endpoint.js';
import { EventRpcEndpoint } from './eventrpc/eventrpc-endpoint.js';
import { McpEndpoint } from './mcp/http-endpoint.js';
import type { Connection } from './gateway/connection.js';
import { builtinPlugin } from './builtins.js';
import { restorePointsPlugin } from './log/restore-points.js';
import { undoPlugin } from './log/undo.js';
import { frameworkPlugin } from './builtins/framework.js';
import { reapStaleClients, retireEvents } from './lifecycle/clients.js';
import type { ServerContext } from './context.js';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { PostgresEventStore } from './store/postgres/index.js';
import { Cluster } from './cluster/cluster.js';
import type { MemberInfo } from './cluster/membership.js';
import { ClientCommandError } from './gateway/connection.js';
import { Authenticator } from './security/auth.js';
import { loadRules, Permissions } from './security/permissions.js';
import { Ownership } from './security/ownership.js';
import { authorizeEvents } from './security/authorize.js';
import { Reactions } from './reactions/reactions.js';
import { PinnedStates } from './live/pinned-states.js';
import { refuseWhileWoundBack, Windback } from './live/windback.js';
import { RelationGraph } from './relations/graph.js';
import { Relations } from './relations/expand.js';
import { repairRelations } from './relations/repair.js';

const serverVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface MykoServerOptions {
  /** Explicit settings; they win over `env`. Strings are accepted as from flags and checked. */
  config?: { [K in keyof ServerConfig]?: ServerConfig[K] | string };
  /** Environment to read `MYKO_*` from (default: none, so tests are hermetic; the CLI passes process.env). */
  env?: NodeJS.ProcessEnv;
  plugins?: MykoPlugin[];
  /** A store to use instead of the embedded SQLite one. */
  store?: EventStore;
  logger?: Logger;
}

/**
 * Events replayed per read at boot. Small: a chunk's parsed events are alive together until it is
 * applied, and the young-generation collector copies (and then promotes) whatever is alive; 10,000 at a
 * time made a full replay spend about a fifth more CPU than 2,000 (1M events, 100k items).
 */
const replayChunk = 2000;

/**
 * The server: boots state from the store, then serves. One instance per
 * process owns one store, one writer and one state.
 */
export class MykoServer {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly registry = new Registry();
  readonly state = new State();
  readonly connections = new Map<string, Connection>();
  readonly ctx: ServerContext;
  private http: Server | undefined;
  /** Set in cluster mode (PostgreSQL store). */
  cluster: Cluster | undefined;
  private wss: WebSocketServer | undefined;
  /** /mcp, for AI agents; undefined when `mcp` is off. */
  mcp: McpEndpoint | undefined;
  private heartbeat: Heartbeat | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly checkpointer: Checkpointer;
  private readonly ownership: Ownership;
  private stopping: Promise<void> | undefined;
  readonly bootStats = { checkpointPosition: 0, replayed: 0, reapedClients: 0, orphansRemoved: 0, ensuredCreated: 0, ms: 0 };
  /** What `--verify-on-boot` found, for /health. */
  private bootVerify: (VerifyResult & { at: string }) | undefined;

  private constructor(
    readonly store: EventStore,
    config: ServerConfig,
    log: Logger,
    plugins: MykoPlugin[],
  ) {
    this.config = config;
    this.log = log;
    for (const p of plugins) this.registry.register(p);
    this.registry.register(restorePointsPlugin(() => this.ctx));
    this.registry.register(undoPlugin(() => this.ctx));
    this.registry.register(frameworkPlugin(() => this.ctx)); // before the built-ins: their query resolver takes any id
    this.registry.register(builtinPlugin); // last: its resolvers are the fallback
    const backrefs = new Backrefs(this.registry.itemTypeDefs());
    if (!backrefs.empty) this.state.backrefs = backrefs;
    const writer = new Writer(store, this.state, this.registry, config.maxBatchEvents, log);
    // After every plugin: a relationship may name a type another plugin defines.
    writer.relations = new Relations(new RelationGraph(this.registry), this.registry, log);
    const pins = new PinnedStates(); // wound-back clients (live/windback.ts)
    const queries = new LiveQueries(this.state, this.registry, pins);
    const reports = new LiveReports(this.state, this.registry, pins);
    const views = new LiveViews(this.state, this.registry, pins);
    this.checkpointer = new Checkpointer(store, this.state, writer, config.checkpointEvery, config.checkpointIntervalMs, log);
    const registry = this.registry;
    const permissions = new Permissions(loadRules(config.permissionsFile));
    const ownership = (this.ownership = new Ownership(this.registry, this.state));
    writer.listeners.push((changes) => ownership.onChanges(changes));
    this.ctx = {
      auth: Authenticator.fromConfig(config),
      permissions,
      reactions: new Reactions(() => this.ctx, registry.reactions()),
      windback: new Windback(() => this.ctx, pins),
      config,
      log,
      registry,
      state: this.state,
      store,
      writer,
      checkpoint: this.checkpointer,
      queries,
      reports,
      views,
      serverId: store.serverId,
      connections: this.connections,
      stopping: false,
      retiring: new Set(),
      locateClient: (clientId) => {
        const conn = this.connections.get(clientId);
        if (conn) return { dialect: conn.dialect, address: conn.address, serverId: store.serverId };
        // Cluster: a Client item of a member whose Server item is present (it goes when the member leaves or is reaped).
        const item = this.state.get('Client', clientId);
        if (!this.cluster || !item || typeof item.serverId !== 'string' || !this.state.get('Server', item.serverId)) return undefined;
        return { dialect: item.dialect === 'seed' ? 'seed' : 'current', address: String(item.address ?? ''), serverId: item.serverId };
      },
      sendToClient: (clientId, commandId, params, opts) => {
        const conn = this.connections.get(clientId);
        if (conn) return conn.request(commandId, params, opts?.timeoutMs);
        const where = this.ctx.locateClient(clientId);
        if (!where || !this.cluster)
          return Promise.reject(new ClientCommandError(`client ${clientId} is not connected`, 'MYKO_CLIENT_GONE'));
        return this.cluster.rpc.call(where.serverId, clientId, commandId, params, opts?.timeoutMs ?? config.clientCommandTimeoutMs);
      },
      admit: (events: readonly EventInput[], origin: Origin): NewEvent[] => {
        const normalized = events.map((e, i) => normalizeEvent(e, origin, registry, events.length > 1 ? i : undefined));
        refuseWhileWoundBack(this.state, origin);
        authorizeEvents(normalized, origin, permissions, ownership);
        return normalized;
      },
      emit: (events: readonly EventInput[], origin: Origin): Promise<StoredEvent[]> => {
        let normalized;
        try {
          normalized = this.ctx.admit(events, origin);
        } catch (err) {
          return Promise.reject(err);
        }
        return writer.submit(normalized);
      },
    };
  }

  get writer(): Writer {
    return this.ctx.writer;
  }

  get serverId(): string {
    return this.store.serverId;
  }

  static async start(opts: MykoServerOptions = {}): Promise<MykoServer> {
    const config = resolveConfig(opts.config ?? {}, opts.env ?? {});
    const log = opts.logger ?? createLogger(config.logLevel);
    const store =
      opts.store ??
      (config.postgresUrl
        ? await PostgresEventStore.open({ url: config.postgresUrl, schema: config.postgresSchema, ...(config.serverId ? { serverId: config.serverId } : {}) })
        : new SqliteEventStore({ dataDir: config.dataDir, sync: config.sqliteSync }));
    const server = new MykoServer(store, config, log, opts.plugins ?? []);
    try {
      await server.boot();
      if (store instanceof SqliteEventStore && config.sqliteThread === 'on') {
        // Booted (the replay ran on this thread, synchronously, which is fastest): hand the connection
        // to the store thread, between writes, before anything is served.
        await server.ctx.writer.idle();
        await store.useThread();
      }
      if (store instanceof SqliteEventStore) await store.preallocateWal();
      if (store instanceof PostgresEventStore) {
        // Catch up with the shared log and join before serving.
        server.cluster = new Cluster(store, server.ctx, log);
        await server.cluster.start(server.ctx.writer.position);
      }
      await server.reapPreviousRun();
      await server.repairRelations();
      await server.listen();
      if (server.cluster) await server.cluster.join(server.memberInfo());
      else await server.publishServerItem();
      await server.ctx.reactions.start();
    } catch (err) {
      await server.stop().catch(() => undefined);
      throw err;
    }
    return server;
  }

  /** Checkpoint, then the tail of the log, then retire clients of a previous run. */
  private async boot(): Promise<void> {
    const t0 = performance.now();
    if (this.config.verifyOnBoot) {
      const result = await verifyLog(this.store);
      if (!result.ok)
        throw new StoreError(`log verification failed at position ${result.failure!.position}: ${result.failure!.reason}`);
      this.log.info({ checked: result.checked, ms: result.ms }, 'log verified');
      this.bootVerify = { ...result, at: new Date().toISOString() };
    }
    const identity = this.ctx.writer.identity;
    let cp = await this.store.loadCheckpoint();
    if (!(await this.checkpointHolds(cp))) {
      this.log.error(
        { position: cp.position, eventId: cp.eventId, ...(cp.problem ? { problem: cp.problem } : {}) },
        'checkpoint does not match the log at the position it claims, or its rows do not match their digest: ignoring it, replaying the whole log',
      );
      cp = { position: 0, eventId: null, chain: '', items: [], leaves: [] };
      this.checkpointer.rewriteAll();
    }
    for (const { itemType, item, clientId } of cp.items) {
      this.state.load(itemType, item);
      if (clientId) this.ownership.note({ itemType, item, changeType: 'SET', clientId });
    }
    for (const l of cp.leaves) identity.leaves.set(l.itemType, l.id, l.pids);
    identity.chain = cp.chain;
    let position = cp.position;
    let lastEventId = cp.eventId;
    for await (const events of replayAfter(this.store, position, replayChunk)) {
      const derived: Change[] = [];
      for (const e of events) {
        this.state.apply(e, derived);
        this.ownership.note(e);
        identity.follow(e);
        lastEventId = e.identity?._id ?? null;
      }
      // Replayed items are newer than the checkpoint: the next checkpoint must save them, or it would
      // claim a position past them without their state (and a later boot would lose them). Replaying the
      // whole log, that is every item: marked once after the loop instead of looked up per event.
      if (cp.position > 0) this.checkpointer.onStored(events, derived);
      if (events.length > 0) position = events[events.length - 1]!.position;
      this.bootStats.replayed += events.length;
    }
    // Every item the log touched has leaves (deleted ones included), and so does every item changed through
    // a reverse reference: they are all the items a full replay must save.
    if (cp.position === 0 && this.bootStats.replayed > 0) this.checkpointer.dirtyAll(identity.leaves);
    this.checkpointer.onStored([], this.state.refreshBackrefs());
    // Only a store that saves checkpoints records their fields (`claims`: SQLite); PostgreSQL's save is a no-op.
    if (cp.position > 0 && this.store.claims) this.checkpointer.checkDerived(cp.derived);
    this.ctx.writer.position = position;
    this.ctx.writer.lastEventId = lastEventId;
    this.checkpointer.position = cp.position;
    this.checkpointer.entries = cp.entries;
    this.ctx.writer.listeners.push(
      (changes) => this.ctx.queries.onChanges(changes),
      (changes) => this.ctx.reports.onChanges(changes),
      (changes) => this.ctx.views.onChanges(changes),
      (changes, stored) => this.checkpointer.onStored(stored, changes.filter((c) => c.derived)),
    );
    this.bootStats.checkpointPosition = cp.position;
    this.bootStats.ms = Math.round(performance.now() - t0);
    this.log.info({ ...this.bootStats, position, serverId: this.serverId, store: this.store.kind }, 'state loaded');
  }

  /**
   * Client items this server left behind (a crash, a kill -9) belong to
   * connections that no longer exist: retire them and what they owned.
   * Embedded: every Client item in the store is from a previous run. Cluster:
   * only this member's (a reused MYKO_SERVER_ID); the reaper retires those of
   * departed members.
   */
  private async reapPreviousRun(): Promise<void> {
    const serverId = this.serverId;
    const embedded = !this.cluster;
    this.bootStats.reapedClients = await reapStaleClients(this.ctx, (c: MItem) => embedded || c.serverId === serverId);
    if (this.bootStats.reapedClients > 0) this.log.info({ reaped: this.bootStats.reapedClients }, 'retired clients of a previous run');
  }

  /**
   * A lone server publishes its `Server` item too (cluster members do it through Membership): the
   * reference client reads `GetConnectedServer` and `ServerStats.server`, and a dashboard shows this
   * server from it. The id is the data directory's, so a restart replaces the item; one of another id
   * (a store imported from elsewhere) is not a server that is running, and goes.
   */
  private async publishServerItem(): Promise<void> {
    const stale = [...this.ctx.state.all('Server')].filter((s) => s.id !== this.serverId);
    await this.emit([
      ...stale.map((s) => ({ itemType: 'Server', changeType: 'DEL' as const, item: { id: s.id } })),
      { itemType: 'Server', changeType: 'SET', item: { id: this.serverId, ...this.memberInfo() } },
    ]);
  }

  /** Orphans removed and missing ensured items created before the first client is served (relations/repair.ts). */
  private async repairRelations(): Promise<void> {
    const relations = this.ctx.writer.relations;
    if (!relations || relations.graph.empty) return;
    const { orphans, created } = await repairRelations(this.ctx, relations);
    this.bootStats.orphansRemoved = orphans;
    this.bootStats.ensuredCreated = created;
    if (orphans + created > 0) this.log.info({ orphans, created }, 'relationships repaired');
  }

  private memberInfo(): MemberInfo {
    const host = this.config.host === '0.0.0.0' || this.config.host === '::' ? hostname() : this.config.host;
    return { address: host, port: this.port, version: serverVersion, startedAt: new Date().toISOString() };
  }

  /**
   * A checkpoint is used only if its rows match the digest saved with them and the log still holds, at
   * its position, the event it was taken after. The log is the truth and the checkpoint only a cache, so
   * a bad one costs a full replay rather than refusing to start.
   */
  private async checkpointHolds(cp: Checkpoint): Promise<boolean> {
    if (cp.problem) return false;
    if (cp.position === 0) return true;
    const [at] = await this.store.readAfter(cp.position - 1, 1);
    return at !== undefined && at.position === cp.position && (at.identity?._id ?? '') === (cp.eventId ?? '');
  }

  private async listen(): Promise<void> {
    const endpoint = new MykoEndpoint(this.ctx);
    // /health, /metrics, /api/* and the dashboard at / (packages/server/src/ops).
    const ops = new Ops(this.ctx, { cluster: () => this.cluster !== undefined, ...(this.bootVerify ? { bootVerify: this.bootVerify } : {}) });
    const models = new ModelsEndpoint(this.ctx);
    const eventRpc = new EventRpcEndpoint(this.ctx);
    const mcp = (this.mcp = this.config.mcp === 'off' ? undefined : new McpEndpoint(this.ctx, this.config.mcp, serverVersion));
    const { http, wss } = createGateway(
      this.config,
      [
        { path: '/myko', accept: (ws, req, d, claims) => endpoint.accept(ws, req, d, claims) },
        { path: '/models', accept: (ws, req, _d, claims) => models.accept(ws, req, claims) },
        { path: '/eventrpc', accept: (ws, req, _d, claims) => eventRpc.accept(ws, req, claims) },
      ],
      [...(mcp ? [mcp.route] : []), ...ops.routes()],
      { auth: this.ctx.auth, log: this.log, stopping: () => this.ctx.stopping },
    );
    this.http = http;
    this.wss = wss;
    this.heartbeat = new Heartbeat(wss, this.config.heartbeatIntervalMs, this.config.heartbeatTimeoutMs, this.log);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.config.port, this.config.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweepSlowConsumers(), 1000).unref();
    // `bind` is where it listens (0.0.0.0: every interface); `url` is an address to reach it from this machine.
    this.log.info({ url: this.url(), bind: `${this.config.host}:${this.port}` }, 'listening');
  }

  /** WIRE-independent guard: a client held back longer than the timeout is closed with a reason. */
  private sweepSlowConsumers(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (conn.congestedSince > 0 && now - conn.congestedSince > this.config.slowConsumerTimeoutMs) {
        this.log.warn({ clientId: conn.clientId, buffered: conn.ws.bufferedAmount }, 'closing slow consumer: held back too long');
        conn.close(CloseCode.TryAgainLater, ErrorCode.SlowConsumer);
      }
    }
  }

  get port(): number {
    return (this.http?.address() as AddressInfo | null)?.port ?? this.config.port;
  }

  url(path = '/myko'): string {
    const host = this.config.host === '0.0.0.0' || this.config.host === '::' ? '127.0.0.1' : this.config.host;
    return `ws://${host}:${this.port}${path}`;
  }

  /** Emit events as the server itself (no client): validated, committed, broadcast. */
  emit(events: EventInput | readonly EventInput[]): Promise<StoredEvent[]> {
    return this.ctx.emit((Array.isArray(events) ? events : [events]) as readonly EventInput[], { serverId: this.serverId });
  }

  /** Send a command to a connected client and await its answer. */
  sendCommandToClient(clientId: string, commandId: string, params: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown> {
    const conn = this.connections.get(clientId);
    if (!conn) return Promise.reject(new Error(`client ${clientId} is not connected`));
    return conn.request(commandId, params, opts?.timeoutMs);
  }

  /**
   * Stop accepting, tell clients, let the writer finish what it accepted,
   * checkpoint, close the store. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.heartbeat?.stop();
      this.checkpointer.stop();
      this.ctx.stopping = true;
      // Taken with the flag: from now on a closing connection leaves its retirement to this list (onClose),
      // so one that closes while the reactions stop is still retired here.
      const open = [...this.connections.keys()];
      // Reactions first: the event in hand finishes (or is delivered again next start) while the store is open.
      await this.ctx.reactions.stop();
      // Writes accepted before the stop (a Client item still committing) are in state before it is read.
      await this.ctx.writer.barrier();
      await Promise.all(this.ctx.retiring);
      // Retire clients while the store is still open, so their Client items and owned items go now.
      const retire = open.flatMap((id) => retireEvents(this.ctx, id));
      // A lone server's Server item goes with it (a cluster member's goes in cluster.stop()).
      if (!this.cluster && this.state.get('Server', this.serverId)) retire.push({ itemType: 'Server', changeType: 'DEL', item: { id: this.serverId } });
      if (retire.length > 0) await this.emit(retire).catch((err) => this.log.error({ err }, 'retiring clients at shutdown failed'));
      for (const conn of this.connections.values()) conn.close(CloseCode.GoingAway, ErrorCode.ShuttingDown);
      this.mcp?.closeAll();
      this.wss?.close();
      if (this.http) {
        this.http.closeAllConnections?.();
        await new Promise<void>((r) => this.http!.close(() => r()));
      }
      await this.ctx.writer.idle();
      await this.cluster?.stop();
      await this.checkpointer.flush().catch((err) => this.log.error({ err }, 'final checkpoint failed'));
      await this.store.close();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
