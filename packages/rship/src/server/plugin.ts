import { copyWith } from '@myko/protocol';
import { definePlugin, defineItemType, type MykoPlugin } from '@myko/server';
import { defaultTargetColors, rshipSchemas, targetStatusId, type Instance, type TargetStatus } from '../entities.js';
import { actionCommands } from './actions.js';
import { rshipMcpResources, rshipMcpTools } from './mcp-tools.js';
import { rshipViews } from './views.js';

export interface RshipPluginOptions {
  /**
   * Write pulses to the durable log. Default false: a pulse is a momentary
   * value, kept in memory (latest per emitter) and fanned out, never stored.
   */
  persistPulses?: boolean;
  /** How long an executor has to answer an action (default 10 s). */
  actionTimeoutMs?: number;
}

/** Drop the executor's hash so the server computes one for the changed item. */
const rehash = <T extends { hash?: string }>(item: T): T => {
  const { hash: _h, ...rest } = item;
  return rest as T;
};

/**
 * The id of a TargetStatus or Pulse sent without one, when the fields it is
 * derived from are missing too. It only lets validation go on to name the
 * field that is really missing (`item.instanceId is required`, rather than
 * `item.id is required`, which the seed's format never sends): such an item
 * always fails its type's schema, so this id is never stored.
 */
const underivedId = '(none)';

/** `id` derived by `derive`, or the placeholder; an empty item (a bare `DEL {}`) is left to fail with `item.id is required`. */
const withId = (item: Record<string, unknown>, derive: () => string | undefined) =>
  item.id !== undefined || Object.keys(item).length === 0 ? item : copyWith(item, 'id', derive() ?? underivedId);

/**
 * What real executors leave out of a Target (WIRE.md 6.1; the TouchDesigner
 * executor sends only `{id, name, parentTargets, serviceId, category}`),
 * filled before validation: colours from `defaultTargetColors`, `rootLevel`
 * true when it has no parent targets. `null` counts as absent. `actionIds`
 * and `emitterIds` are not filled here: state keeps them as backrefs (the
 * Actions and Emitters whose `targetId` names the target, plus any the
 * executor listed), so they are whole whichever arrives first.
 */
export function targetDefaults(t: Record<string, unknown>): Record<string, unknown> {
  let out = t;
  const fill = (field: string, value: unknown) => {
    if (out[field] === undefined || out[field] === null) out = { ...out, [field]: value };
  };
  fill('bgColor', defaultTargetColors.bgColor);
  fill('fgColor', defaultTargetColors.fgColor);
  fill('rootLevel', !Array.isArray(t.parentTargets) || t.parentTargets.length === 0);
  // null lists are absent: backrefs start them from [].
  for (const field of ['actionIds', 'emitterIds'])
    if (out[field] === null) {
      const { [field]: _null, ...rest } = out;
      out = rest;
    }
  return out;
}

/**
 * Rocketship on a Myko server: validated entities, target status that follows
 * the executor's connection, and action invocation routed to the executor.
 *
 * Ownership: an Instance and a TargetStatus belong to the connection that set
 * them (`clientId`, filled by the server when the executor leaves it out).
 * When that connection closes, its instances become `Unavailable` and its
 * target statuses `offline`; when the executor reconnects and resends them,
 * they come back. Watchers see both as ordinary diffs.
 *
 * Relationships: an Action, Emitter or TargetStatus belongs to its Target, a
 * TargetStatus also to its Instance, a Pulse to its Emitter. Deleting a target (or an instance)
 * deletes what hangs off it in the same commit. A disconnect only marks
 * instances and statuses offline (SETs), so it deletes nothing.
 *
 * Targets, actions, emitters and pulses are claimed by the connection that
 * writes them: while it is connected, no other client may change them (the
 * server's default ownership rule; a permission rule can grant overrides).
 */
export function rshipPlugin(opts: RshipPluginOptions = {}): MykoPlugin {
  return definePlugin({
    name: 'rship',
    itemTypes: [
      defineItemType<Instance & { id: string }>({
        name: 'Instance',
        schema: rshipSchemas.Instance,
        owner: { field: 'clientId', onDisconnect: (i) => rehash({ ...i, status: 'Unavailable' as const }) },
      }),
      {
        name: 'Target',
        schema: rshipSchemas.Target,
        claimedByWriter: true,
        prepare: (t) => (Object.keys(t).length === 0 ? t : targetDefaults(t)),
        backrefs: [
          { field: 'actionIds', from: 'Action', via: 'targetId' },
          { field: 'emitterIds', from: 'Emitter', via: 'targetId' },
        ],
      },
      defineItemType<TargetStatus & { id: string }>({
        name: 'TargetStatus',
        schema: rshipSchemas.TargetStatus,
        prepare: (s) => withId(s, () => (typeof s.instanceId === 'string' && typeof s.targetId === 'string' ? targetStatusId(s.instanceId, s.targetId) : undefined)),
        owner: { field: 'clientId', onDisconnect: (s) => rehash({ ...s, status: 'offline' as const }) },
        // Executors send a status with, or before, its target and instance: kept until the parent is deleted.
        belongsTo: { targetId: 'Target', instanceId: 'Instance' },
      }),
      { name: 'Action', schema: rshipSchemas.Action, claimedByWriter: true, belongsTo: { targetId: 'Target' } },
      { name: 'Emitter', schema: rshipSchemas.Emitter, claimedByWriter: true, belongsTo: { targetId: 'Target' } },
      {
        name: 'Pulse',
        schema: rshipSchemas.Pulse,
        persist: opts.persistPulses ?? false,
        claimedByWriter: true,
        // The latest value of an emitter: it goes with its emitter (and so with the emitter's target).
        belongsTo: { emitterId: 'Emitter' },
        prepare: (p) => withId(p, () => (typeof p.emitterId === 'string' ? p.emitterId : undefined)),
      },
      { name: 'Machine', schema: rshipSchemas.Machine },
      { name: 'Service', schema: rshipSchemas.Service },
    ],
    commands: actionCommands(opts.actionTimeoutMs ?? 10_000),
    mcpTools: rshipMcpTools,
    mcpResources: rshipMcpResources,
    views: rshipViews,
  });
}
