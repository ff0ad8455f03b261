import { definePlugin, defineItemType, type MykoPlugin } from '@myko/server';
import { rshipSchemas, targetStatusId, type Instance, type TargetStatus } from '../entities.js';
import { actionCommands } from './actions.js';

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
 * Rocketship on a Myko server: validated entities, target status that follows
 * the executor's connection, and action invocation routed to the executor.
 *
 * Ownership: an Instance and a TargetStatus belong to the connection that set
 * them (`clientId`, filled by the server when the executor leaves it out).
 * When that connection closes, its instances become `Unavailable` and its
 * target statuses `offline`; when the executor reconnects and resends them,
 * they come back. Watchers see both as ordinary diffs.
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
      { name: 'Target', schema: rshipSchemas.Target, claimedByWriter: true },
      defineItemType<TargetStatus & { id: string }>({
        name: 'TargetStatus',
        schema: rshipSchemas.TargetStatus,
        prepare: (s) =>
          s.id === undefined && typeof s.instanceId === 'string' && typeof s.targetId === 'string'
            ? { ...s, id: targetStatusId(s.instanceId, s.targetId) }
            : s,
        owner: { field: 'clientId', onDisconnect: (s) => rehash({ ...s, status: 'offline' as const }) },
      }),
      { name: 'Action', schema: rshipSchemas.Action, claimedByWriter: true },
      { name: 'Emitter', schema: rshipSchemas.Emitter, claimedByWriter: true },
      {
        name: 'Pulse',
        schema: rshipSchemas.Pulse,
        persist: opts.persistPulses ?? false,
        claimedByWriter: true,
        prepare: (p) => (p.id === undefined && typeof p.emitterId === 'string' ? { ...p, id: p.emitterId } : p),
      },
      { name: 'Machine', schema: rshipSchemas.Machine },
      { name: 'Service', schema: rshipSchemas.Service },
    ],
    commands: actionCommands(opts.actionTimeoutMs ?? 10_000),
  });
}
