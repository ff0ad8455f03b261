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
import { builtinQueryIds } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import { ajv, describeAjvErrors, type ValidateFunction } from '../wire/ajv.js';
import { McpToolError, type McpBackend } from './backend.js';
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
  const all = [...serverTools, ...registry.mcpTools()];
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

  // Subscriptions: one live query per subscribed item URI. Subscribing again is a no-op.
  const subscriptions = new Map<string, Promise<() => void>>();
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (uri.startsWith('myko://schema/')) return {}; // schemas do not change while the server runs
    const target = parseItemUri(uri);
    if (!target) throw new McpError(RpcErrorCode.InvalidParams, `cannot subscribe to ${uri}: only myko://item/{itemType}/{id} resources change`);
    if (subscriptions.has(uri)) return {};
    try {
      admitted();
      const stop = backend.watch(byIdQuery(target.itemType, target.id), () => {
        void server.sendResourceUpdated({ uri }).catch(() => undefined);
      });
      subscriptions.set(uri, stop);
      await stop;
    } catch (err) {
      subscriptions.delete(uri);
      const code = err instanceof McpToolError ? `${err.code}: ` : '';
      throw new McpError(RpcErrorCode.InvalidRequest, `${code}${(err as Error).message}`);
    }
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    const stop = subscriptions.get(req.params.uri);
    subscriptions.delete(req.params.uri);
    if (stop) (await stop.catch(() => () => undefined))();
    return {};
  });

  return mcp;
}

export { itemUri };
