/**
 * Action dispatch: the commands a controller sends through the server
 * (ExecTargetAction and its legacy name, BatchTargetAction,
 * CompactBatchTargetAction) find their action in the session's registry and
 * run its handler; ResendEmitterValue goes to the emitter (pulses.ts).
 */
import type { IncomingCommandContext, MykoClient } from '@myko/client';
import type { Action } from '../entities.js';
import { RshipCommand } from '../entities.js';
import { resendEmitterValue } from './pulses.js';
import type { ExecutorRegistry } from './registry.js';
import type { ExecutorSession } from './session.js';
import type { ExecutorTarget } from './target.js';
import { ExecutorError, type ActionContext, type ActionHandler } from './types.js';

/** An action of a target: its published item, and its handler behind the payload's parse. */
export class ExecutorAction {
  /** @internal */
  constructor(
    readonly target: ExecutorTarget,
    readonly id: string,
    readonly name: string,
    /** The JSON Schema published on the Action (null: any payload). */
    readonly schema: object | string | null,
    private readonly parse: ((data: unknown) => unknown) | undefined,
    private readonly handler: ActionHandler,
  ) {}

  /** @internal */
  item(): Action {
    return { id: this.id, name: this.name, schema: this.schema, targetId: this.target.id, serviceId: this.target.instance.serviceId };
  }

  /** @internal Parse (typed schemas), then the handler. */
  async _run(data: unknown, ctx: ActionContext): Promise<unknown> {
    let input = data;
    if (this.parse) {
      try {
        input = this.parse(data);
      } catch (err) {
        throw new ExecutorError('RSHIP_BAD_PAYLOAD', `payload rejected by action ${this.id} (${this.name}): ${(err as Error)?.message ?? String(err)}`);
      }
    }
    return this.handler(input, ctx);
  }
}

/** Answer the action commands on `client` from `registry`'s actions; handlers see `session` in their context. */
export function attachDispatch(client: MykoClient, session: ExecutorSession, registry: ExecutorRegistry): void {
  const lookupAction = (id: unknown, where: string): ExecutorAction => {
    if (typeof id !== 'string') throw new ExecutorError('MYKO_BAD_COMMAND', `${where} needs an action id`);
    const a = registry.actions.get(id);
    if (!a) throw new ExecutorError('RSHIP_UNKNOWN_ACTION', `${where}: this executor has no action ${id}`);
    return a;
  };

  const context = (action: ExecutorAction, c: IncomingCommandContext, stored: Action | undefined, instanceId: unknown, targetId: string): ActionContext => {
    const target = action.target.instance.targetById(targetId) ?? action.target;
    return {
      session,
      instance: target.instance,
      target,
      action,
      stored,
      commandId: c.commandId,
      tx: c.tx,
      instanceId: typeof instanceId === 'string' ? instanceId : action.target.instance.id,
      targetId,
    };
  };

  const exec = (p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown> => {
    const stored = p.action as Action | undefined;
    const action = lookupAction(stored?.id ?? p.actionId, c.commandId);
    return action._run(p.data, context(action, c, stored, p.instanceId, action.target.id));
  };

  /** `{actions: [{action, data}]}` → the handlers' results in order. Every entry runs; any failure fails the batch, naming each. */
  const batch = async (p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown[]> => {
    if (!Array.isArray(p.actions)) throw new ExecutorError('MYKO_BAD_COMMAND', 'BatchTargetAction needs actions: [{action, data}]');
    return runAll(
      p.actions.map((entry: Record<string, unknown>, i: number) => ({
        where: `actions[${i}]`,
        run: () => {
          const stored = entry?.action as Action | undefined;
          const action = lookupAction(stored?.id ?? entry?.actionId, `actions[${i}]`);
          return action._run(entry.data, context(action, c, stored, entry.instanceId, action.target.id));
        },
      })),
    );
  };

  /** `{groups: [{actionId, payloads, assignments: [{instanceId, targetId, payloadIndex}]}]}` → one result per assignment, in order. */
  const compactBatch = async (p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown[]> => {
    if (!Array.isArray(p.groups)) throw new ExecutorError('MYKO_BAD_COMMAND', 'CompactBatchTargetAction needs groups: [{actionId, payloads, assignments}]');
    const jobs: { where: string; run: () => unknown }[] = [];
    p.groups.forEach((g: Record<string, unknown>, gi: number) => {
      const assignments = Array.isArray(g?.assignments) ? (g.assignments as Record<string, unknown>[]) : [];
      const payloads = Array.isArray(g?.payloads) ? g.payloads : [];
      assignments.forEach((a, ai) => {
        const where = `groups[${gi}].assignments[${ai}]`;
        jobs.push({
          where,
          run: () => {
            const action = lookupAction(g.actionId, where);
            const index = a?.payloadIndex;
            if (typeof index !== 'number' || index < 0 || index >= payloads.length) throw new ExecutorError('MYKO_BAD_COMMAND', `${where}: payloadIndex out of range`);
            const targetId = typeof a.targetId === 'string' ? a.targetId : action.target.id;
            return action._run(payloads[index], context(action, c, undefined, a.instanceId, targetId));
          },
        });
      });
    });
    return runAll(jobs);
  };

  client.onCommand(RshipCommand.ExecTargetAction, exec);
  client.onCommand(RshipCommand.LegacyExecTargetAction, exec);
  client.onCommand(RshipCommand.BatchTargetAction, batch);
  client.onCommand(RshipCommand.CompactBatchTargetAction, compactBatch);
  client.onCommand(RshipCommand.ResendEmitterValue, (p) => resendEmitterValue(registry, p));
}

async function runAll(jobs: { where: string; run: () => unknown }[]): Promise<unknown[]> {
  const results: unknown[] = [];
  const failures: string[] = [];
  for (const job of jobs) {
    try {
      results.push((await job.run()) ?? null);
    } catch (err) {
      results.push(null);
      failures.push(`${job.where}: ${(err as Error)?.message ?? String(err)}`);
    }
  }
  if (failures.length > 0) throw new ExecutorError('RSHIP_BATCH_FAILED', `${failures.length} of ${jobs.length} failed: ${failures.join('; ')}`);
  return results;
}
