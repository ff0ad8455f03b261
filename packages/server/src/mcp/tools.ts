import { builtinQueryIds } from '@myko/protocol';
import type { Registry } from '../core/registry.js';
import { defineMcpTool, type McpToolDef } from './tool-def.js';

/**
 * The server's own MCP tools: discover, read and act through the same
 * operations a Myko client has. Their input schemas are built from the
 * registry, so an agent sees the item types, reports and commands (with
 * their declared parameter schemas) this server really has.
 */

/** A query answers at most this many items at once: an agent's context is small; it pages with `offset`. */
export const maxLimit = 1000;
const defaultLimit = 100;

const names = (list: readonly string[]) => [...new Set(list)].sort();
const typeNames = (r: Registry) => names(r.itemTypeDefs().map((t) => t.name));

const itemTypeArg = (r: Registry) => ({
  type: 'string',
  minLength: 1,
  description: `The item type. Registered: ${typeNames(r).join(', ') || '(none)'}; list_item_types also shows types present without a registration.`,
  examples: typeNames(r),
});

export const listItemTypes = defineMcpTool({
  name: 'list_item_types',
  title: 'List item types',
  description: 'Every item type the server holds or has registered, with its number of items and whether it is persisted.',
  readOnly: true,
  inputSchema: () => ({ type: 'object', properties: {}, additionalProperties: false }),
  call: async (_args, backend) => ({ itemTypes: await backend.itemTypes() }),
});

export const queryItems = defineMcpTool({
  name: 'query_items',
  title: 'Run a query',
  description:
    'The current items of a query, sorted by id, one window at a time (limit and offset); totalCount gives the size of the whole result. ' +
    'Without queryId, every item of the type. Built-in queries for any type X: GetAllXs, GetXsByIds {ids: [...]}, GetXsByQuery {field: value, ...} (every field must equal).',
  readOnly: true,
  badInputCode: 'MYKO_BAD_QUERY',
  inputSchema: (r) => ({
    type: 'object',
    required: ['itemType'],
    properties: {
      itemType: itemTypeArg(r),
      queryId: {
        type: 'string',
        minLength: 1,
        description: `The query (default GetAll{itemType}s). Registered: ${names(r.queryDefs().map((q) => q.id)).join(', ') || '(only the built-ins)'}.`,
      },
      params: { type: 'object', description: "The query's parameters, e.g. {ids: [...]} for GetXsByIds, {field: value} for GetXsByQuery." },
      limit: { type: 'integer', minimum: 1, maximum: maxLimit, default: defaultLimit, description: 'At most this many items.' },
      offset: { type: 'integer', minimum: 0, default: 0, description: 'Skip this many items of the result (sorted by id).' },
    },
    additionalProperties: false,
  }),
  async call(args, backend) {
    const itemType = args.itemType as string;
    const queryId = (args.queryId as string | undefined) ?? builtinQueryIds(itemType).all;
    const window = { offset: (args.offset as number | undefined) ?? 0, limit: (args.limit as number | undefined) ?? defaultLimit };
    const { items, totalCount } = await backend.query({ queryId, itemType, params: (args.params as Record<string, unknown> | undefined) ?? {}, window });
    return { itemType, queryId, totalCount, offset: window.offset, count: items.length, items };
  },
});

/** Views (server-defined joins, WIRE.md 6.3): offered when the registry has one; each declared params schema attached as for commands. */
export const runView = defineMcpTool({
  name: 'run_view',
  title: 'Run a view',
  description:
    "The current items of a server-defined view (a join computed by the server, e.g. a target with its statuses, actions and emitters), sorted by id, one window at a time; totalCount gives the whole view's size.",
  readOnly: true,
  badInputCode: 'MYKO_BAD_QUERY',
  available: (r) => r.viewDefs().length > 0,
  inputSchema(r) {
    const defs = r.viewDefs();
    return {
      type: 'object',
      required: ['viewId'],
      properties: {
        viewId: { type: 'string', enum: names(defs.map((v) => v.id)), description: `The view: ${defs.map((v) => `${v.id} (items of type ${v.itemType})`).join(', ')}.` },
        params: { type: 'object', description: "The view's parameters." },
        limit: { type: 'integer', minimum: 1, maximum: maxLimit, default: defaultLimit, description: 'At most this many items.' },
        offset: { type: 'integer', minimum: 0, default: 0, description: 'Skip this many items of the view (sorted by id).' },
      },
      additionalProperties: false,
      ...(defs.some((v) => v.params)
        ? { allOf: defs.filter((v) => v.params).map((v) => ({ if: { properties: { viewId: { const: v.id } } }, then: { properties: { params: v.params } } })) }
        : {}),
    };
  },
  async call(args, backend) {
    const window = { offset: (args.offset as number | undefined) ?? 0, limit: (args.limit as number | undefined) ?? defaultLimit };
    const { items, totalCount } = await backend.view({ viewId: args.viewId, params: args.params ?? {}, window });
    return { viewId: args.viewId, totalCount, offset: window.offset, count: items.length, items };
  },
});

export const readReport = defineMcpTool({
  name: 'read_report',
  title: 'Read a report',
  description: "A report's current value. Built-in: CountItems {itemType}, and GetXsCount for any item type X.",
  readOnly: true,
  badInputCode: 'MYKO_BAD_REPORT',
  inputSchema: (r) => ({
    type: 'object',
    required: ['reportId'],
    properties: {
      reportId: { type: 'string', minLength: 1, description: 'The report.', examples: names([...r.reportIds(), ...typeNames(r).map((t) => `Get${t}sCount`)]) },
      params: { type: 'object', description: "The report's parameters." },
    },
    additionalProperties: false,
  }),
  call: async (args, backend) => ({ reportId: args.reportId, value: await backend.report(args.reportId, args.params ?? {}) }),
});

export const itemHistory = defineMcpTool({
  name: 'item_history',
  title: "An item's history",
  description: 'The stored events of one item, oldest first, and its current value (null when deleted or never set).',
  readOnly: true,
  inputSchema: (r) => ({
    type: 'object',
    required: ['itemType', 'id'],
    properties: { itemType: itemTypeArg(r), id: { type: 'string', minLength: 1, description: "The item's id." } },
    additionalProperties: false,
  }),
  call: (args, backend) => backend.history(args.itemType, args.id),
});

/**
 * Each declared parameter schema is attached by `if commandId is X then
 * params must match`: an agent reads them from the tool list, and a call
 * that breaks one is refused as MYKO_BAD_COMMAND, the code the server gives
 * the same mistake over /myko.
 */
export const runCommand = defineMcpTool({
  name: 'run_command',
  title: 'Run a command',
  description: 'Run a server command as the caller (permission rules apply) and answer its response. Parameter schemas, where declared, are in this schema (allOf) and in the resources myko://schema/command/{commandId}.',
  readOnly: false,
  badInputCode: 'MYKO_BAD_COMMAND',
  inputSchema(r) {
    const defs = r.commandDefs();
    return {
      type: 'object',
      required: ['commandId'],
      properties: {
        commandId: { type: 'string', enum: names(defs.map((c) => c.id)), description: 'The command.' },
        params: { type: 'object', description: "The command's parameters." },
      },
      additionalProperties: false,
      ...(defs.some((c) => c.schema)
        ? {
            allOf: defs
              .filter((c) => c.schema)
              .map((c) => ({ if: { properties: { commandId: { const: c.id } } }, then: { properties: { params: c.schema } } })),
          }
        : {}),
    };
  },
  call: async (args, backend) => ({ commandId: args.commandId, response: (await backend.command(args.commandId, args.params ?? {})) ?? null }),
});

export const serverTools: readonly McpToolDef[] = [listItemTypes, queryItems, runView, readReport, itemHistory, runCommand];
