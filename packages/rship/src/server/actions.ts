import type { CommandContext, CommandDef } from '@myko/server';
import type { Action, Emitter } from '../entities.js';
import { RshipCommand } from '../entities.js';
import { checkPayload } from './payload.js';
import { describeTarget, routeToInstance, routeToTarget, RshipError, type Route } from './routing.js';

/**
 * Action invocation (WIRE.md 2): a controller sends a command to the server;
 * the server checks the payload against the action's schema, finds the
 * executor connection that owns the target's instance, forwards the command
 * with the whole stored Action, and relays the executor's answer.
 */

type Params = Record<string, unknown>;

function findAction(ctx: CommandContext, ref: unknown, actionId: unknown, where: string): Action {
  const id = typeof actionId === 'string' ? actionId : typeof (ref as { id?: unknown } | null)?.id === 'string' ? (ref as { id: string }).id : undefined;
  if (!id) throw new RshipError('MYKO_BAD_COMMAND', `${where} needs action.id or actionId`);
  const action = ctx.state.get('Action', id) as Action | undefined;
  if (!action) throw new RshipError('RSHIP_UNKNOWN_ACTION', `${where}: unknown action ${id}`);
  return action;
}

function requireRoute(ctx: CommandContext, action: Action): Route {
  const route = routeToTarget(ctx, action.targetId);
  if (!route) throw new RshipError('RSHIP_TARGET_OFFLINE', `${describeTarget(ctx, action.targetId)} is offline: no connected executor has it online`);
  return route;
}

async function forward(ctx: CommandContext, route: Route, commandId: string, params: Params, timeoutMs: number, what: string): Promise<unknown> {
  try {
    return await ctx.sendToClient(route.clientId, commandId, params, { timeoutMs });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'MYKO_TIMEOUT') throw new RshipError('MYKO_TIMEOUT', `${what}: the executor did not answer within ${timeoutMs} ms`);
    if (e.code === 'MYKO_CLIENT_GONE') throw new RshipError('RSHIP_TARGET_OFFLINE', `${what}: the executor disconnected`);
    throw new RshipError(e.code ?? 'MYKO_COMMAND_FAILED', e.message);
  }
}

const isSeed = (route: Route) => route.execCommandId === RshipCommand.LegacyExecTargetAction;

/**
 * 2023 executors know only `target:action:exec`: a batch for one of them is
 * sent as one such call per entry, all at once and in order. Like the SDK's
 * own batch answer, every entry is awaited; the results come back in order,
 * and if any failed the batch fails naming each failed entry.
 */
async function execEach(ctx: CommandContext, route: Route, calls: { where: string; params: Params }[], timeoutMs: number): Promise<unknown[]> {
  const settled = await Promise.allSettled(
    calls.map(({ params }) => forward(ctx, route, route.execCommandId, params, timeoutMs, `action ${(params.action as Action).id}`)),
  );
  const failures = settled.flatMap((r, i) => (r.status === 'rejected' ? [`${calls[i]!.where}: ${(r.reason as Error).message}`] : []));
  if (failures.length > 0) throw new RshipError('RSHIP_BATCH_FAILED', `${failures.length} of ${calls.length} failed: ${failures.join('; ')}`);
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value ?? null);
}

export function actionCommands(timeoutMs: number): CommandDef<any, any>[] {
  const exec: CommandDef<Params, unknown> = {
    id: RshipCommand.ExecTargetAction,
    async handler(p, ctx) {
      const action = findAction(ctx, p.action, p.actionId, RshipCommand.ExecTargetAction);
      checkPayload(action, p.data);
      const route = requireRoute(ctx, action);
      const what = `action ${action.id} on ${describeTarget(ctx, action.targetId)}`;
      return forward(ctx, route, route.execCommandId, { instanceId: route.instanceId, action, data: p.data }, timeoutMs, what);
    },
  };

  /** Validates every entry first (a bad one rejects the batch), then one forward per executor. */
  const batch: CommandDef<Params, unknown> = {
    id: RshipCommand.BatchTargetAction,
    async handler(p, ctx) {
      if (!Array.isArray(p.actions)) throw new RshipError('MYKO_BAD_COMMAND', 'BatchTargetAction needs actions: [{action, data, instanceId?}]');
      const groups = new Map<string, { route: Route; actions: Params[]; where: string[] }>();
      p.actions.forEach((entry: Params, i: number) => {
        const where = `actions[${i}]`;
        const action = findAction(ctx, entry?.action, entry?.actionId, where);
        checkPayload(action, entry.data, `${where}.data`);
        const route = typeof entry.instanceId === 'string' ? routeToInstance(ctx, entry.instanceId) : routeToTarget(ctx, action.targetId);
        if (!route) throw new RshipError('RSHIP_TARGET_OFFLINE', `${where}: ${describeTarget(ctx, action.targetId)} is offline`);
        let g = groups.get(route.clientId);
        if (!g) groups.set(route.clientId, (g = { route, actions: [], where: [] }));
        g.actions.push({ action, data: entry.data, instanceId: route.instanceId });
        g.where.push(where);
      });
      const results = await Promise.all(
        [...groups.values()].map(async ({ route, actions, where }) => {
          try {
            const response = isSeed(route)
              ? await execEach(ctx, route, actions.map((params, i) => ({ where: where[i]!, params })), timeoutMs)
              : await forward(ctx, route, RshipCommand.BatchTargetAction, { actions }, timeoutMs, `batch for instance ${route.instanceId}`);
            return { instanceId: route.instanceId, ok: true, response };
          } catch (err) {
            return { instanceId: route.instanceId, ok: false, error: (err as Error).message };
          }
        }),
      );
      return { results };
    },
  };

  const compact: CommandDef<Params, unknown> = {
    id: RshipCommand.CompactBatchTargetAction,
    async handler(p, ctx) {
      if (!Array.isArray(p.groups)) throw new RshipError('MYKO_BAD_COMMAND', 'CompactBatchTargetAction needs groups: [{actionId, payloads, assignments}]');
      // Per instance: the compact groups (current executors), and the same as single calls (2023 executors).
      const perInstance = new Map<string, { route: Route; groups: Params[]; byGroup: Map<number, Params>; calls: { where: string; params: Params }[] }>();
      p.groups.forEach((g: Params, gi: number) => {
        const where = `groups[${gi}]`;
        const action = findAction(ctx, undefined, g?.actionId, where);
        if (!Array.isArray(g.payloads) || !Array.isArray(g.assignments))
          throw new RshipError('MYKO_BAD_COMMAND', `${where} needs payloads and assignments arrays`);
        g.payloads.forEach((payload: unknown, pi: number) => checkPayload(action, payload, `${where}.payloads[${pi}]`));
        for (const [ai, a] of (g.assignments as Params[]).entries()) {
          if (typeof a?.instanceId !== 'string' || typeof a.payloadIndex !== 'number' || a.payloadIndex < 0 || a.payloadIndex >= g.payloads.length)
            throw new RshipError('MYKO_BAD_COMMAND', `${where}.assignments[${ai}] needs instanceId and a payloadIndex within payloads`);
          const route = routeToInstance(ctx, a.instanceId);
          if (!route) throw new RshipError('RSHIP_TARGET_OFFLINE', `${where}.assignments[${ai}]: instance ${a.instanceId} is not connected`);
          let entry = perInstance.get(a.instanceId);
          if (!entry) perInstance.set(a.instanceId, (entry = { route, groups: [], byGroup: new Map(), calls: [] }));
          entry.calls.push({
            where: `${where}.assignments[${ai}]`,
            params: { instanceId: a.instanceId, action, data: g.payloads[a.payloadIndex], ...(typeof a.targetId === 'string' ? { targetId: a.targetId } : {}) },
          });
          // One forwarded group per incoming group: two groups of the same action have their own payloads.
          let mine = entry.byGroup.get(gi);
          if (!mine) {
            mine = { actionId: g.actionId, payloads: g.payloads, assignments: [] };
            entry.groups.push(mine);
            entry.byGroup.set(gi, mine);
          }
          (mine.assignments as Params[]).push(a);
        }
      });
      const results = await Promise.all(
        [...perInstance.entries()].map(async ([instanceId, { route, groups, calls }]) => {
          try {
            const response = isSeed(route)
              ? await execEach(ctx, route, calls, timeoutMs)
              : await forward(ctx, route, RshipCommand.CompactBatchTargetAction, { groups }, timeoutMs, `batch for instance ${instanceId}`);
            return { instanceId, ok: true, response };
          } catch (err) {
            return { instanceId, ok: false, error: (err as Error).message };
          }
        }),
      );
      return { results };
    },
  };

  const resend: CommandDef<Params, unknown> = {
    id: RshipCommand.ResendEmitterValue,
    async handler(p, ctx) {
      if (typeof p.emitterId !== 'string') throw new RshipError('MYKO_BAD_COMMAND', 'ResendEmitterValue needs emitterId');
      const emitter = ctx.state.get('Emitter', p.emitterId) as Emitter | undefined;
      if (!emitter) throw new RshipError('RSHIP_UNKNOWN_EMITTER', `unknown emitter ${p.emitterId}`);
      const route = typeof p.instanceId === 'string' ? routeToInstance(ctx, p.instanceId) : routeToTarget(ctx, emitter.targetId);
      if (!route) throw new RshipError('RSHIP_TARGET_OFFLINE', `${describeTarget(ctx, emitter.targetId)} is offline`);
      // The 2023 executor API has no way to ask for a value again: say so rather than send a command it ignores until the timeout.
      if (isSeed(route))
        throw new RshipError(
          'RSHIP_UNSUPPORTED_BY_EXECUTOR',
          `ResendEmitterValue: the executor of instance ${route.instanceId} speaks the 2023 (seed) dialect, which has no command to resend emitter ${emitter.id}; its latest value is the Pulse with id ${emitter.id}`,
        );
      return forward(ctx, route, RshipCommand.ResendEmitterValue, { instanceId: route.instanceId, emitterId: emitter.id }, timeoutMs, `emitter ${emitter.id}`);
    },
  };

  return [exec, batch, compact, resend];
}
