import { defineMcpResource, defineMcpTool, McpToolError, type McpBackend, type McpResourceDef, type McpToolDef } from '@myko/server';
import { RshipCommand, type Action, type Emitter, type Pulse, type Target, type TargetStatus } from '../entities.js';

/**
 * Rocketship for AI agents: contributed by the plugin through
 * `MykoPlugin.mcpTools`, so the server knows nothing of Rocketship, and
 * written against McpBackend like the server's own tools, so they work on
 * /mcp and in `myko mcp --url` alike. Everything goes through what any
 * client has: queries for the entities, the ExecTargetAction command for an
 * action (so the payload is checked against the action's schema, permission
 * rules apply and the executor is found, exactly as for a controller).
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

export const listTargets = defineMcpTool({
  name: 'rship_list_targets',
  title: 'List Rocketship targets',
  description:
    'Rocketship targets with their status (online when a connected executor has them online), their actions (with the JSON Schema of each payload) ' +
    "and their emitters with each one's latest value. Give targetId for one target.",
  readOnly: true,
  inputSchema: () => ({
    type: 'object',
    properties: {
      targetId: { type: 'string', minLength: 1, description: 'Only this target.' },
      limit: { type: 'integer', minimum: 1, maximum: maxTargets, default: 100, description: 'At most this many targets (sorted by id).' },
      offset: { type: 'integer', minimum: 0, default: 0 },
    },
    additionalProperties: false,
  }),
  async call(args, backend) {
    const one = args.targetId as string | undefined;
    const window = { offset: (args.offset as number | undefined) ?? 0, limit: (args.limit as number | undefined) ?? 100 };
    const page = one
      ? await backend.query({ queryId: 'GetTargetsByIds', itemType: 'Target', params: { ids: [one] } })
      : await backend.query({ queryId: 'GetAllTargets', itemType: 'Target', params: {}, window });
    const targets = page.items as unknown as Target[];
    const scoped = one ? { targetId: one } : undefined;
    const [statuses, actions, emitters, pulses] = await Promise.all([
      all<TargetStatus>(backend, 'TargetStatus', scoped ? 'GetTargetStatussByQuery' : 'GetAllTargetStatuss', scoped),
      all<Action>(backend, 'Action', scoped ? 'GetActionsByQuery' : 'GetAllActions', scoped),
      all<Emitter>(backend, 'Emitter', scoped ? 'GetEmittersByQuery' : 'GetAllEmitters', scoped),
      all<Pulse>(backend, 'Pulse', 'GetAllPulses'),
    ]);
    const latest = new Map<string, Pulse>();
    for (const p of pulses) {
      const prev = latest.get(p.emitterId);
      if (!prev || Number(p.timestamp ?? 0) >= Number(prev.timestamp ?? 0)) latest.set(p.emitterId, p);
    }
    const byTarget = <T extends { targetId: string }>(list: T[]) => {
      const m = new Map<string, T[]>();
      for (const x of list) m.set(x.targetId, [...(m.get(x.targetId) ?? []), x]);
      return m;
    };
    const statusBy = byTarget(statuses);
    const actionsBy = byTarget(actions);
    const emittersBy = byTarget(emitters);
    return {
      totalCount: page.totalCount,
      targets: targets.map((t) => {
        const online = (statusBy.get(t.id) ?? []).filter((s) => s.status === 'online').map((s) => s.instanceId);
        return {
          id: t.id,
          name: t.name,
          ...(t.category ? { category: t.category } : {}),
          status: online.length > 0 ? 'online' : 'offline',
          onlineInstances: online,
          actions: (actionsBy.get(t.id) ?? []).map((a) => ({ id: a.id, name: a.name, schema: schemaOf(a.schema) })),
          emitters: (emittersBy.get(t.id) ?? []).map((e) => {
            const p = latest.get(e.id);
            return { id: e.id, name: e.name, schema: schemaOf(e.schema), latest: p ? { data: p.data, timestamp: p.timestamp ?? null } : null };
          }),
        };
      }),
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
