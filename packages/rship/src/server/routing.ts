import type { CommandContext } from '@myko/server';
import type { Instance, TargetStatus } from '../entities.js';
import { RshipCommand } from '../entities.js';

/** An error with a stable code, passed to the controller as `ws:m:command-error {code, message}`. */
export class RshipError extends Error {
  override name = 'RshipError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Route {
  instanceId: string;
  clientId: string;
  /** `target:action:exec` for 2023 executors, which speak the seed dialect; `ExecTargetAction` otherwise. */
  execCommandId: string;
}

/** The connection that owns an instance, when it is connected here. */
export function routeToInstance(ctx: CommandContext, instanceId: string): Route | undefined {
  const instance = ctx.state.get('Instance', instanceId) as Instance | undefined;
  const clientId = instance?.clientId;
  if (!clientId) return undefined;
  const client = ctx.client(clientId);
  if (!client) return undefined;
  return {
    instanceId,
    clientId,
    execCommandId: client.dialect === 'seed' ? RshipCommand.LegacyExecTargetAction : RshipCommand.ExecTargetAction,
  };
}

/**
 * The executor that can act on a target now: an online TargetStatus names the
 * instance, and that instance's connection must be live. A target with no
 * online status is offline (seed 001: targets default to offline).
 */
export function routeToTarget(ctx: CommandContext, targetId: string): Route | undefined {
  for (const id of ctx.state.lookup('TargetStatus', 'targetId', targetId)) {
    const status = ctx.state.get('TargetStatus', id) as TargetStatus | undefined;
    if (status?.status !== 'online') continue;
    const route = routeToInstance(ctx, status.instanceId);
    if (route) return route;
  }
  return undefined;
}

export function describeTarget(ctx: CommandContext, targetId: string): string {
  const name = ctx.state.get('Target', targetId)?.name;
  return typeof name === 'string' ? `target ${targetId} (${name})` : `target ${targetId}`;
}
