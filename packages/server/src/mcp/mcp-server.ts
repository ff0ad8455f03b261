import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  ErrorCode as RpcErrorCode,
  ListToolsRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { builtinQueryIds } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import { ajv, describeAjvErrors, type ValidateFunction } from '../wire/ajv.js';
import { McpToolError, type McpBackend, type QueryInput } from './backend.js';
import type { McpToolDef } from './tool-def.js';
import { serverTools } from './tools.js';

export type McpMode = 'read-only' | 'full';

export interface McpSessionOptions {
  backend: McpBackend;
  mode: McpMode;
  /** Server version, told to the agent at initialisation. */
  version: string;
  /** Asked before each tool call, resource read and subscription: a refusal (rate limit), or undefined. */
  admit?: () => McpToolError | undefined;
}

/** The tools of a registry in a mode: the server's, then the plugins'; read-only mode keeps only readers. */
export function toolsFor(registry: Registry, mode: McpMode): McpToolDef[] {
  const all = [...serverTools, ...registry.mcpTools()].filter((t) => t.available?.(registry) ?? true);
  return mode === 'full' ? all : all.filter((t) => t.readOnly);
}

interface CompiledTool {
  def: McpToolDef;
  schema: Record<string, unknown>;
  validate: ValidateFunction;
}

/** Input schemas are built from the registry once per registry (it does not change after start) and compiled once. */
const compiledByRegistry = new WeakMap<Registry, Map<McpToolDef, CompiledTool>>();

function compile(registry: Registry, def: McpToolDef): CompiledTool {
  let byDef = compiledByRegistry.get(registry);
  if (!byDef) compiledByRegistry.set(registry, (byDef = new Map()));
  let c = byDef.get(def);
  if (!c) {
    const schema = def.inputSchema(registry);
    byDef.set(def, (c = { def, schema, validate: ajv.compile(schema) }));
  }
  return c;
}

const json = (value: unknown): string => JSON.stringify(value);

/** An MCP tool error: the server's code and message, as JSON an agent (and a program) can read. */
export function toolError(code: string, message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: json({ code, message }) }] };
}

const itemUri = (itemType: string, id: string) => `myko://item/${encodeURIComponent(itemType)}/${encodeURIComponent(id)}`;
const itemUriPattern = /^myko:\/\/item\/([^/]+)\/([^/]+)$/;

function parseItemUri(uri: string): { itemType: string; id: string } | undefined {
  const m = itemUriPattern.exec(uri);
  if (!m) return undefined;
  try {
    return { itemType: decodeURIComponent(m[1]!), id: decodeURIComponent(m[2]!) };
  } catch {
    return undefined;
  }
}

const byIdQuery = (itemType: string, id: string) => ({ queryId: builtinQueryIds(itemType).byIds, itemType, params: { ids: [id] } });

/** A subscribed resource is announced at most this often: an item can change at 60 Hz (a pulse), an agent reads far slower. */
export const updateEveryMs = 250;

/** `fn` at most once per `ms`, the last call never lost (trailing). */
function throttle(fn: () => void, ms: number): { fire(): void; cancel(): void } {
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const run = () => {
    timer = undefined;
    last = Date.now();
    fn();
  };
  return {
    fire() {
      if (timer) return;
      const wait = last + ms - Date.now();
      if (wait <= 0) run();
      else timer = setTimeout(run, wait);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

const stringVars = (v: Record<string, string | string[]>): Record<string, string> =>
  Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Array.isArray(x) ? x.join(',') : x]));

/**
 * One MCP session: an McpServer over a backend. Tools are served by the
 * low-level handlers (tools/list, tools/call) because their input schemas are
 * JSON Schema built from the registry, which McpServer.registerTool (zod
 * shapes) cannot take; resources use McpServer.registerResource; resource
 * subscriptions (resources/subscribe) are live queries of the backend whose
 * changes are sent as notifications/resources/updated.
 *
 * Resources:
 *   myko://schema/item-type/{name}   an item type's JSON Schema (each registered type)
 *   myko://schema/command/{id}       a command's parameter schema (each command declaring one)
 *   myko://item/{itemType}/{id}      an item's current value; subscribe to hear of each change
 *   (plugins')                       MykoPlugin.mcpResources, e.g. myko://rship/action/{id}
 *
 * A subscribed resource's updates are throttled to one per `updateEveryMs`.
 */
export function createMcpServer(opts: McpSessionOptions): McpServer {
  const { backend, mode } = opts;
  const registry = backend.registry;
  const tools = new Map(toolsFor(registry, mode).map((t) => [t.name, compile(registry, t)]));
  const mcp = new McpServer(
    { name: 'myko', title: 'Myko server', version: opts.version },
    {
      capabilities: { tools: { listChanged: false }, resources: { subscribe: true, listChanged: false } },
      instructions:
        'Live state of a Myko server. list_item_types to discover, query_items to read (paged), item_history for what changed, ' +
        (mode === 'full' ? 'run_command to act. ' : 'read-only: no commands. ') +
        'Errors carry the server code (MYKO_FORBIDDEN, MYKO_BAD_COMMAND, ...).',
    },
  );
  const server = mcp.server;
  const admitted = () => {
    const refusal = opts.admit?.();
    if (refusal) throw refusal;
  };

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [...tools.values()].map(({ def, schema }) => ({
      name: def.name,
      ...(def.title ? { title: def.title } : {}),
      description: def.description,
      inputSchema: schema as { type: 'object' },
      annotations: { readOnlyHint: def.readOnly, ...(def.title ? { title: def.title } : {}) },
    })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (req): Promise<CallToolResult> => {
    const tool = tools.get(req.params.name);
    if (!tool) {
      const exists = toolsFor(registry, 'full').some((t) => t.name === req.params.name);
      return exists
        ? toolError('MYKO_FORBIDDEN', `${req.params.name} is not available: this server's MCP endpoint is read-only`)
        : toolError('MYKO_BAD_REQUEST', `unknown tool ${req.params.name}`);
    }
    const args = req.params.arguments ?? {};
    try {
      admitted();
      if (!tool.validate(args)) return toolError(tool.def.badInputCode ?? 'MYKO_BAD_REQUEST', describeAjvErrors(tool.validate.errors, 'arguments'));
      const result = await tool.def.call(args, backend);
      return { content: [{ type: 'text', text: json(result) }] };
    } catch (err) {
      if (err instanceof McpToolError) return toolError(err.code, err.message);
      const e = err as Error & { code?: unknown };
      return toolError(typeof e.code === 'string' ? e.code : 'MYKO_INTERNAL', e.message || String(err));
    }
  });

  const readJson = (uri: string, value: unknown): ReadResourceResult => ({
    contents: [{ uri, mimeType: 'application/json', text: json(value) }],
  });
  const guardRead = (fn: () => Promise<ReadResourceResult> | ReadResourceResult) => async () => {
    try {
      admitted();
    } catch (err) {
      throw new McpError(RpcErrorCode.InvalidRequest, `${(err as McpToolError).code}: ${(err as Error).message}`);
    }
    return fn();
  };

  for (const t of registry.itemTypeDefs()) {
    const uri = `myko://schema/item-type/${encodeURIComponent(t.name)}`;
    mcp.registerResource(
      `item-type ${t.name}`,
      uri,
      { title: `Item type ${t.name}`, description: `JSON Schema of ${t.name} items${t.persist === false ? ' (not persisted)' : ''}`, mimeType: 'application/json' },
      guardRead(() => readJson(uri, { itemType: t.name, persisted: t.persist !== false, schema: t.schema ?? null })),
    );
  }
  for (const c of registry.commandDefs()) {
    if (!c.schema) continue;
    const uri = `myko://schema/command/${encodeURIComponent(c.id)}`;
    mcp.registerResource(
      `command ${c.id}`,
      uri,
      { title: `Command ${c.id}`, description: `JSON Schema of the parameters of the command ${c.id}`, mimeType: 'application/json' },
      guardRead(() => readJson(uri, { commandId: c.id, schema: c.schema })),
    );
  }
  mcp.registerResource(
    'item',
    new ResourceTemplate('myko://item/{itemType}/{id}', { list: undefined }),
    { title: 'An item', description: "An item's current value (null when absent). Subscribe to be told of each change.", mimeType: 'application/json' },
    async (uri) => {
      const target = parseItemUri(uri.href);
      if (!target) throw new McpError(RpcErrorCode.InvalidParams, `not an item URI: ${uri.href} (myko://item/{itemType}/{id})`);
      return guardRead(async () => {
        const { items } = await backend.query(byIdQuery(target.itemType, target.id));
        return readJson(uri.href, { itemType: target.itemType, id: target.id, item: items[0] ?? null });
      })();
    },
  );

  const pluginResources = registry.mcpResources().map((def) => ({ def, template: new UriTemplate(def.uriTemplate) }));
  for (const { def } of pluginResources) {
    mcp.registerResource(
      def.name,
      new ResourceTemplate(def.uriTemplate, { list: async () => ({ resources: (await def.list(backend)).map((r) => ({ ...r, mimeType: 'application/json' })) }) }),
      { ...(def.title ? { title: def.title } : {}), description: def.description, mimeType: 'application/json' },
      (uri, vars) =>
        guardRead(async () => {
          try {
            return readJson(uri.href, await def.read(stringVars(vars), backend));
          } catch (err) {
            if (err instanceof McpToolError) throw new McpError(RpcErrorCode.InvalidParams, `${err.code}: ${err.message}`);
            throw err;
          }
        })(),
    );
  }

  /** The live query behind a resource that can change, or undefined (schemas do not change while the server runs). */
  const watchable = (uri: string): QueryInput | undefined => {
    const target = parseItemUri(uri);
    if (target) return byIdQuery(target.itemType, target.id);
    for (const { def, template } of pluginResources) {
      const vars = def.watch ? template.match(uri) : null;
      if (vars) return def.watch!(stringVars(vars));
    }
    return undefined;
  };

  // Subscriptions: one live query per subscribed URI. Subscribing again is a no-op.
  const subscriptions = new Map<string, { stop: Promise<() => void>; notify: ReturnType<typeof throttle> }>();
  const unsubscribe = async (uri: string) => {
    const sub = subscriptions.get(uri);
    if (!sub) return;
    subscriptions.delete(uri);
    sub.notify.cancel();
    (await sub.stop.catch(() => () => undefined))();
  };
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (subscriptions.has(uri)) return {};
    const query = watchable(uri);
    if (!query) {
      if (uri.startsWith('myko://schema/')) return {};
      throw new McpError(RpcErrorCode.InvalidParams, `cannot subscribe to ${uri}: not a resource that changes (myko://item/{itemType}/{id}, or a plugin's)`);
    }
    try {
      admitted();
      const notify = throttle(() => void server.sendResourceUpdated({ uri }).catch(() => undefined), updateEveryMs);
      const stop = backend.watch(query, () => notify.fire());
      subscriptions.set(uri, { stop, notify });
      await stop;
    } catch (err) {
      subscriptions.get(uri)?.notify.cancel();
      subscriptions.delete(uri);
      const code = err instanceof McpToolError ? `${err.code}: ` : '';
      throw new McpError(RpcErrorCode.InvalidRequest, `${code}${(err as Error).message}`);
    }
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    await unsubscribe(req.params.uri);
    return {};
  });
  // The session's end ends its subscriptions' timers (the backend ends their live queries).
  server.onclose = () => {
    for (const sub of subscriptions.values()) sub.notify.cancel();
    subscriptions.clear();
  };

  return mcp;
}

export { itemUri };
