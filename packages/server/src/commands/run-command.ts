import { ErrorCode, type MCommand } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { CommandContext, EventInput } from '../core/registry.js';

/** What a command request resolved to, before it is put on the wire in the caller's dialect. */
export type CommandOutcome =
  | { ok: true; response: unknown }
  | { ok: false; code: ErrorCode | string; message: string };

const plumbing = new Set(['tx', 'createdAt', 'userToken']);

/**
 * Run one command through the registry. Events the handler emits are
 * committed before the response is produced, so a client that gets the
 * response and then queries sees the command's effects.
 */
export async function runCommand(ctx: ServerContext, req: MCommand, clientId: string | undefined): Promise<CommandOutcome> {
  const compiled = ctx.registry.command(req.commandId);
  if (!compiled) return { ok: false, code: ErrorCode.UnknownCommand, message: `unknown command ${req.commandId}` };
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req.command)) if (!plumbing.has(k)) params[k] = v;
  const problem = compiled.check(params);
  if (problem) return { ok: false, code: ErrorCode.BadCommand, message: `${req.commandId}: ${problem}` };

  const cctx: CommandContext = {
    state: ctx.state,
    clientId,
    serverId: ctx.serverId,
    log: ctx.log,
    emit: async (events) => {
      const list = (Array.isArray(events) ? events : [events]) as readonly EventInput[];
      await ctx.emit(list, { serverId: ctx.serverId, clientId });
    },
    client: (id) => ctx.locateClient(id),
    sendToClient: (target, commandId, p, opts) => ctx.sendToClient(target, commandId, p, opts),
  };
  try {
    const response = await compiled.def.handler(params, cctx);
    return { ok: true, response };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: e.code ?? ErrorCode.CommandFailed, message: e.message || String(err) };
  }
}
