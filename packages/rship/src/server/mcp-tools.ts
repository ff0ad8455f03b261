import { defineMcpResource, defineMcpTool, McpToolError, type McpBackend, type McpResourceDef, type McpToolDef } from '@myko/server';
import { RshipCommand, type Action, type Pulse } from '../entities.js';
import { getTargetViews, type TargetView } from './views.js';

/**
 * Rocketship for AI agents: contributed by the plugin through
 * `MykoPlugin.mcpTools`, so the server knows nothing of Rocketship, and
 * written against McpBackend like the server's own tools, so they work on
 * /mcp and in `myko mcp --url` alike. Everything goes through what any
 * client has: queries for the entities, the ExecTargetAction command for an
 * action (so the payload is checked against the action's schema, permission
 * rules apply and the executor is found, exactly as for a controller).
 * rship_list_targets reads the GetTargetViews view, so it needs a server
 * with this plugin's views (any server running this plugin).
 */

const maxTargets = 500;

/** A schema stored as JSON text (as many executors send it) is returned parsed: agents read objects. */
function schemaOf(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw ?? null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

async function all<T>(backend: McpBackend, itemType: string, queryId: string, params: Record<string, unknown> = {}): Promise<T[]> {
  return (await backend.query({ queryId, itemType, params })).items as unknown as T[];
}

/**
 * The join is the GetTargetViews view's (views.ts: one owner of "a target
 * with its statuses, actions and emitters"); this tool adds each emitter's
 * latest pulse, which the view leaves out so a pulse storm recomputes nothing.
 */
export const listTargets = defineMcpTool({
  name: 'rship_list_targets',
  title: 'List Rocketship targets',
  description:
    'Rocketship targets with their status (online when a connected executor has them online), their actions (with the JSON Schema of each payload) ' +
    "and their emitters with each one's latest value. Give targetId for one target, serviceId for one service's.",
  readOnly: true,
  inputSchema: () => ({
    type: 'object',
    properties: {
      targetId: { type: 'string', minLength: 1, description: 'Only this target.' },
      serviceId: { type: 'string', minLength: 1, description: "Only this service's targets." },
      includeOffline: { type: 'boolean', default: true, description: 'false: only online targets.' },
      limit: { type: 'integer', minimum: 1, maximum: maxTargets, default: 100, description: 'At most this many targets (sorted by id).' },
      offset: { type: 'integer', minimum: 0, default: 0 },
    },
    additionalProperties: false,
  }),
  async call(args, backend) {
    const one = args.targetId as string | undefined;
    const params = {
      ...(args.serviceId !== undefined ? { serviceId: args.serviceId } : {}),
      ...(args.includeOffline !== undefined ? { includeOffline: args.includeOffline } : {}),
    };
    const window = { offset: (args.offset as number | undefined) ?? 0, limit: (args.limit as number | undefined) ?? 100 };
    const page = await backend.view({ viewId: getTargetViews.id, params, ...(one ? {} : { window }) });
    const views = (page.items as unknown as TargetView[]).filter((v) => one === undefined || v.id === one);
    const latest = new Map<string, Pulse>();
    for (const p of await all<Pulse>(backend, 'Pulse', 'GetAllPulses')) {
      const prev = latest.get(p.emitterId);
      if (!prev || Number(p.timestamp ?? 0) >= Number(prev.timestamp ?? 0)) latest.set(p.emitterId, p);
    }
    return {
      totalCount: one ? views.length : page.totalCount,
      targets: views.map(({ target: t, statuses, actions, emitters, isOnline }) => ({
        id: t.id,
        name: t.name,
        ...(t.category ? { category: t.category } : {}),
        status: isOnline ? 'online' : 'offline',
        onlineInstances: statuses.filter((st) => st.status === 'online').map((st) => st.instanceId),
        actions: actions.map((a) => ({ id: a.id, name: a.name, schema: schemaOf(a.schema) })),
        emitters: emitters.map((e) => {
          const p = latest.get(e.id);
          return { id: e.id, name: e.name, schema: schemaOf(e.schema), latest: p ? { data: p.data, timestamp: p.timestamp ?? null } : null };
        }),
      })),
    };
  },
});

export const executeAction = defineMcpTool({
  name: 'rship_execute_action',
  title: 'Execute a Rocketship action',
  description:
    "Run an action on its target's executor and answer the executor's result. The payload must match the action's schema " +
    '(rship_list_targets shows it); a mismatch is refused before reaching the executor (RSHIP_BAD_PAYLOAD), an offline target is RSHIP_TARGET_OFFLINE.',
  readOnly: false,
  inputSchema: () => ({
    type: 'object',
    required: ['actionId'],
    properties: {
      actionId: { type: 'string', minLength: 1, description: 'The action (e.g. "banana-stand:burn").' },
      payload: { description: "The action's data, matching its schema." },
    },
    additionalProperties: false,
  }),
  async call(args, backend) {
    const response = await backend.command(RshipCommand.ExecTargetAction, { actionId: args.actionId, data: args.payload ?? null });
    return { actionId: args.actionId, response: response ?? null };
  },
});

export const rshipMcpTools: McpToolDef[] = [listTargets, executeAction];

const actionById = (id: string) => ({ queryId: 'GetActionsByIds', itemType: 'Action', params: { ids: [id] } });

/** Each action's payload schema as a resource; a subscriber hears when its executor re-registers it differently. */
export const actionSchemas = defineMcpResource({
  name: 'rship action',
  uriTemplate: 'myko://rship/action/{id}',
  title: 'Rocketship action',
  description: "A Rocketship action: its target and the JSON Schema its payload must match (null: any payload).",
  async list(backend) {
    const actions = await all<Action>(backend, 'Action', 'GetAllActions');
    return actions.map((a) => ({ uri: `myko://rship/action/${encodeURIComponent(a.id)}`, name: a.name, description: `action ${a.id} of target ${a.targetId}` }));
  },
  async read(vars, backend) {
    const id = decodeURIComponent(vars.id ?? '');
    const [a] = (await backend.query(actionById(id))).items as unknown as Action[];
    if (!a) throw new McpToolError('RSHIP_UNKNOWN_ACTION', `unknown action ${id}`);
    return { id: a.id, name: a.name, targetId: a.targetId, schema: schemaOf(a.schema) };
  },
  watch: (vars) => actionById(decodeURIComponent(vars.id ?? '')),
});

export const rshipMcpResources: McpResourceDef[] = [actionSchemas];
