import type { MItem } from '@myko/protocol';
import type { Logger } from '../logger.js';
import type { Change, StateReader } from './state.js';
import type { Backref } from './backrefs.js';
import { ajv, ajvAllErrors, describeAjvErrors, type ValidateFunction } from '../wire/ajv.js';
import type { McpResourceDef, McpToolDef } from '../mcp/tool-def.js';
import type { ReactionDef } from '../reactions/define.js';

/**
 * The application API: item types, queries, reports and commands, each
 * declared in one place and gathered into plugins. The built-ins use this
 * same API (builtins.ts).
 */

export interface ItemTypeDef<T extends MItem = MItem> {
  name: string;
  /** JSON Schema every SET item must satisfy (ajv). Extra fields are kept unless the schema forbids them. */
  schema?: object;
  /** A further check; return a message naming the field, or undefined when the item is fine. */
  validate?: (item: T) => string | undefined;
  /**
   * Runs on each incoming item of this type before any validation, e.g. to
   * derive an id the wire format lets clients omit. Must not throw.
   */
  prepare?: (item: Record<string, unknown>) => Record<string, unknown>;
  /** false: kept in memory and broadcast but never written to the log (e.g. Pulse). Default true. */
  persist?: boolean;
  /**
   * Items that belong to a client connection: `field` holds its clientId. When
   * that client disconnects, its items are deleted, or replaced by what
   * `onDisconnect` returns (undefined = leave as is).
   */
  owner?: { field: string; onDisconnect: 'delete' | ((item: T, state: StateReader) => T | undefined) };
  /**
   * The client that writes an item of this type owns it while it is
   * connected: other clients may not modify or delete it (unless a
   * permission rule lets them override ownership). For what an executor
   * registers: its targets, actions, emitters, pulses.
   */
  claimedByWriter?: boolean;
  /**
   * Array fields the server keeps as the ids of the items of another type
   * that name this one (core/backrefs.ts), e.g. a Target's `actionIds` from
   * the Actions whose `targetId` is it: the sender's list plus those, kept
   * current as they come and go.
   */
  backrefs?: Backref[];
  /**
   * Foreign keys (relations/): `{ field: 'ParentType' }`. Deleting the parent
   * deletes the children whose `field` holds its id, transitively, in the same
   * commit. A child may be written before its parent (or with an empty key):
   * it is kept, and removed only if still an orphan at the next start. The
   * parent type must be defined by some plugin (a typo fails the start); a
   * non-persistent parent type is empty after a restart, so its children go
   * at every start.
   */
  belongsTo?: BelongsTo<T>;
  /**
   * Exactly one item of this type per combination of dependency items
   * (relations/): created when a dependency is SET, deleted with any of them.
   */
  ensureFor?: EnsureFor<T>;
}

/** String-valued fields of T (an id field holds a string). */
export type KeyField<T> = { [K in keyof T & string]: T[K] extends string | null | undefined ? K : never }[keyof T & string];

/** Foreign-key field → parent item type. */
export type BelongsTo<T> = { readonly [K in KeyField<T>]?: string };

export interface EnsureFor<T> {
  /**
   * Foreign-key field → dependency item type, in order (at least one). The
   * ensured item's id is derived from the dependency ids (relations/ensured-id.ts),
   * so every member of a cluster and every restart creates the same item.
   */
  deps: { readonly [K in KeyField<T>]?: string };
  /**
   * The item's other fields, from the dependency items in `deps` order; the
   * key fields and the id are set by the server. Must be deterministic
   * (no clocks, no random ids): two members may create the same item.
   */
  make?: (...deps: MItem[]) => Omit<Partial<T>, 'id'>;
}

/** A compiled query: a predicate, plus index hints so a change reaches only queries it can affect. */
export interface QueryFilter {
  match(item: MItem): boolean;
  /** Field equalities every match satisfies: used as index keys. */
  eq?: ReadonlyArray<readonly [field: string, value: unknown]>;
  /** The only ids that can match. */
  ids?: readonly string[];
}

export interface QueryDef<P extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  /** The item type it returns; omitted = the request's `queryItemType`. */
  itemType?: string;
  /** Params → filter. Throw to answer `ws:m:query-error` with the message. */
  compile(params: P, itemType: string): QueryFilter;
}

/** Resolves query ids by pattern (e.g. `GetAllXs` for any X). */
export type QueryResolver = (queryId: string, itemType: string) => QueryDef | undefined;

/** Who asked for a report: its value may depend on it (e.g. `WindbackStatus` is the caller's own). */
export interface ReportCaller {
  /** The connection that watches the report; undefined for server-internal computations. */
  readonly clientId: string | undefined;
}

export interface ReportDef<P extends Record<string, unknown> = Record<string, unknown>, R = unknown> {
  id: string;
  /** Item types whose changes can alter the value; the report is recomputed only then. */
  dependsOn(params: P): readonly string[];
  /**
   * Throw to answer `ws:m:report-error`. May return a Promise (a report read
   * from the log): its value is sent once, when it resolves, and never
   * recomputed; such a report declares `dependsOn` → [].
   */
  compute(params: P, state: StateReader, caller?: ReportCaller): R;
}

export type ReportResolver = (reportId: string) => ReportDef | undefined;

/**
 * A view (WIRE.md 6.3): a server-defined live query that builds its own items,
 * possibly of a type that is never stored (a join, a tree, a summary), each
 * with a string `id`; pages order them by id. It is recomputed only when an
 * item type it `dependsOn` changes. With `affects` and `item` it is
 * incremental: a change rebuilds only the view items it names; without them,
 * the whole view is rebuilt (once per committed batch) and diffed.
 */
export interface ViewDef<P extends Record<string, unknown> = Record<string, unknown>, T extends MItem = MItem> {
  /** The `viewId` clients send. */
  id: string;
  /** The `viewItemType`: the `itemType` of every item in its responses. */
  itemType: string;
  /** JSON Schema of the params (the `view` object less tx, createdAt, seq, userToken, clientId); a mismatch answers `ws:m:view-error`. */
  params?: object;
  /** Item types whose changes can alter the view. */
  dependsOn(params: P): readonly string[];
  /** Every item of the view. Throw to answer `ws:m:view-error`. */
  build(params: P, state: StateReader): Iterable<T>;
  /** The ids of the view items `change` can affect; undefined = rebuild the whole view. */
  affects?(change: Change, params: P, state: StateReader): Iterable<string> | undefined;
  /** The view item with this id as it is now, or undefined when the view has none (needed with `affects`). */
  item?(id: string, params: P, state: StateReader): T | undefined;
}

/** An event a handler emits: as on the wire, `createdAt`/`tx` optional (`null` = absent, WIRE.md 6.1). */
export interface EventInput {
  itemType: string;
  changeType: 'SET' | 'DEL';
  item: MItem;
  createdAt?: string | null;
  tx?: string | null;
}

export interface CommandContext {
  readonly state: StateReader;
  /**
   * The command's tx as sent: events a handler writes as one undoable change carry it (log/undo.ts), and a
   * reaction's is derived from its event (the same on every delivery), for tx-idempotent effects.
   */
  readonly tx: string;
  /** The connection that sent the command (undefined for server-internal calls). */
  readonly clientId: string | undefined;
  readonly serverId: string;
  readonly log: Logger;
  /** Claims of the caller's token (connection or `userToken`); undefined when anonymous or auth is off. */
  readonly claims: Record<string, unknown> | undefined;
  /** Validate, persist and apply; resolves once committed (and broadcast). */
  emit(events: EventInput | readonly EventInput[]): Promise<void>;
  /**
   * The same, but checked as if the caller had sent the events itself:
   * server-managed types, permission rules and other live clients' ownership
   * apply (`emit` trusts the handler). For commands that write on a client's
   * behalf what it names (e.g. `Delete{X}`). Rejects with EventRejected.
   */
  emitAsCaller(events: EventInput | readonly EventInput[]): Promise<void>;
  /** Where a client is connected (this server or, in a cluster, another member), or undefined. */
  client(clientId: string): { dialect: 'seed' | 'current'; address: string; serverId: string } | undefined;
  /** Send a command to a connected client and await its response. */
  sendToClient(clientId: string, commandId: string, params: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown>;
}

/** Resolves command ids by pattern (e.g. `Delete{X}` for any X); registered ids win. */
export type CommandResolver = (commandId: string) => CommandDef | undefined;

export interface CommandDef<P extends Record<string, unknown> = Record<string, unknown>, R = unknown> {
  id: string;
  /** Runs without authentication when authentication is on (permission rules still apply). */
  public?: boolean;
  /** JSON Schema of the command's params (the `command` object less `tx`). */
  schema?: object;
  handler(params: P, ctx: CommandContext): R | Promise<R>;
}

export interface MykoPlugin {
  name: string;
  itemTypes?: ItemTypeDef<any>[];
  queries?: QueryDef<any>[];
  queryResolvers?: QueryResolver[];
  reports?: ReportDef<any, any>[];
  reportResolvers?: ReportResolver[];
  commands?: CommandDef<any, any>[];
  /**
   * Tools this plugin offers AI agents on the MCP endpoint (mcp/), beside the
   * server's own. Written against McpBackend, so the same tool serves /mcp in
   * the server and `myko mcp --url` over a Myko connection.
   */
  mcpTools?: McpToolDef[];
  /** Resources this plugin offers agents on the MCP endpoint, beside item type and command schemas and items. */
  mcpResources?: McpResourceDef[];
  commandResolvers?: CommandResolver[];
  views?: ViewDef<any, any>[];
  /** Reactions (sagas) on committed events: reactions/define.ts. */
  reactions?: ReactionDef<any>[];
}

/** Identity helpers that carry the types through. */
export const defineItemType = <T extends MItem>(d: ItemTypeDef<T>) => d;
export const defineQuery = <P extends Record<string, unknown>>(d: QueryDef<P>) => d;
export const defineReport = <P extends Record<string, unknown>, R>(d: ReportDef<P, R>) => d;
export const defineView = <P extends Record<string, unknown>, T extends MItem>(d: ViewDef<P, T>) => d;
export const defineCommand = <P extends Record<string, unknown>, R>(d: CommandDef<P, R>) => d;
export const definePlugin = (p: MykoPlugin) => p;

export interface CompiledItemType {
  def: ItemTypeDef;
  persist: boolean;
  check(item: MItem): string | undefined;
}

export interface CompiledView {
  def: ViewDef;
  /** A message naming the bad param, or undefined. */
  check(params: Record<string, unknown>): string | undefined;
}

interface CompiledCommand {
  def: CommandDef;
  check(params: Record<string, unknown>): string | undefined;
}

/** Holds every definition; a duplicate id is an error at start, not a silent override. */
export class Registry {
  private readonly itemTypes = new Map<string, CompiledItemType>();
  private readonly queries = new Map<string, QueryDef>();
  private readonly queryResolvers: QueryResolver[] = [];
  private readonly reports = new Map<string, ReportDef>();
  private readonly reportResolvers: ReportResolver[] = [];
  private readonly commands = new Map<string, CompiledCommand>();
  private readonly tools: McpToolDef[] = [];
  private readonly resources: McpResourceDef[] = [];
  private readonly commandResolvers: CommandResolver[] = [];
  private readonly views = new Map<string, CompiledView>();
  private readonly reactionDefs = new Map<string, ReactionDef>();

  register(plugin: MykoPlugin): void {
    for (const t of plugin.itemTypes ?? []) {
      if (this.itemTypes.has(t.name)) throw new Error(`${plugin.name}: item type ${t.name} is already defined`);
      const schemaCheck: ValidateFunction | undefined = t.schema ? ajvAllErrors.compile(t.schema) : undefined;
      this.itemTypes.set(t.name, {
        def: t,
        persist: t.persist !== false,
        check(item) {
          if (schemaCheck && !schemaCheck(item)) return describeAjvErrors(schemaCheck.errors, 'item');
          return t.validate?.(item);
        },
      });
    }
    for (const q of plugin.queries ?? []) {
      if (this.queries.has(q.id)) throw new Error(`${plugin.name}: query ${q.id} is already defined`);
      this.queries.set(q.id, q);
    }
    this.queryResolvers.push(...(plugin.queryResolvers ?? []));
    for (const r of plugin.reports ?? []) {
      if (this.reports.has(r.id)) throw new Error(`${plugin.name}: report ${r.id} is already defined`);
      this.reports.set(r.id, r);
    }
    this.reportResolvers.push(...(plugin.reportResolvers ?? []));
    for (const t of plugin.mcpTools ?? []) {
      if (this.tools.some((x) => x.name === t.name)) throw new Error(`${plugin.name}: MCP tool ${t.name} is already defined`);
      this.tools.push(t);
    }
    for (const r of plugin.mcpResources ?? []) {
      if (this.resources.some((x) => x.name === r.name)) throw new Error(`${plugin.name}: MCP resource ${r.name} is already defined`);
      this.resources.push(r);
    }
    for (const c of plugin.commands ?? []) {
      if (this.commands.has(c.id)) throw new Error(`${plugin.name}: command ${c.id} is already defined`);
      this.commands.set(c.id, compileCommand(c));
    }
    this.commandResolvers.push(...(plugin.commandResolvers ?? []));
    for (const v of plugin.views ?? []) {
      if (this.views.has(v.id)) throw new Error(`${plugin.name}: view ${v.id} is already defined`);
      if (v.affects && !v.item) throw new Error(`${plugin.name}: view ${v.id} has affects() but no item()`);
      const schemaCheck = v.params ? ajv.compile(v.params) : undefined;
      this.views.set(v.id, {
        def: v,
        check: (params) => (schemaCheck && !schemaCheck(params) ? describeAjvErrors(schemaCheck.errors, 'view') : undefined),
      });
    }
    for (const r of plugin.reactions ?? []) {
      if (this.reactionDefs.has(r.id)) throw new Error(`${plugin.name}: reaction ${r.id} is already defined`);
      this.reactionDefs.set(r.id, r);
    }
  }

  reactions(): ReactionDef[] {
    return [...this.reactionDefs.values()];
  }

  view(viewId: string): CompiledView | undefined {
    return this.views.get(viewId);
  }

  itemType(name: string): CompiledItemType | undefined {
    return this.itemTypes.get(name);
  }

  /** Every item type, in registration order. */
  allItemTypes(): CompiledItemType[] {
    return [...this.itemTypes.values()];
  }

  ownedItemTypes(): CompiledItemType[] {
    return [...this.itemTypes.values()].filter((t) => t.def.owner);
  }

  isPersistent(itemType: string): boolean {
    return this.itemTypes.get(itemType)?.persist ?? true;
  }

  /** Registered id first, then resolvers in registration order (built-ins last). */
  query(queryId: string, itemType: string): QueryDef | undefined {
    const q = this.queries.get(queryId);
    if (q) return q;
    for (const r of this.queryResolvers) {
      const found = r(queryId, itemType);
      if (found) return found;
    }
    return undefined;
  }

  report(reportId: string): ReportDef | undefined {
    const r = this.reports.get(reportId);
    if (r) return r;
    for (const resolve of this.reportResolvers) {
      const found = resolve(reportId);
      if (found) return found;
    }
    return undefined;
  }

  /** Registered id first, then resolvers in registration order (built-ins last). */
  command(commandId: string): CompiledCommand | undefined {
    const c = this.commands.get(commandId);
    if (c) return c;
    for (const resolve of this.commandResolvers) {
      const found = resolve(commandId);
      // Resolved definitions carry no schema (their handlers check params), so nothing is compiled per call.
      if (found) return compileCommand(found);
    }
    return undefined;
  }

  /**
   * Every registered item type, command and report (resolver-made ones excepted): agents discover them
   * (mcp/), and core/backrefs.ts gathers its reverse references from the item types.
   */
  itemTypeDefs(): ItemTypeDef[] {
    return [...this.itemTypes.values()].map((t) => t.def);
  }

  commandDefs(): CommandDef[] {
    return [...this.commands.values()].map((c) => c.def);
  }

  reportIds(): string[] {
    return [...this.reports.keys()];
  }

  queryDefs(): QueryDef[] {
    return [...this.queries.values()];
  }

  viewDefs(): ViewDef[] {
    return [...this.views.values()].map((v) => v.def);
  }

  /** MCP tools plugins contribute, in registration order. */
  mcpTools(): readonly McpToolDef[] {
    return this.tools;
  }

  mcpResources(): readonly McpResourceDef[] {
    return this.resources;
  }
}

function compileCommand(c: CommandDef): CompiledCommand {
  const schemaCheck = c.schema ? ajv.compile(c.schema) : undefined;
  return {
    def: c,
    check: (params) => (schemaCheck && !schemaCheck(params) ? describeAjvErrors(schemaCheck.errors, 'command') : undefined),
  };
}
