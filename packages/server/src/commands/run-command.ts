import { randomUUID } from 'node:crypto';
import { ErrorCode, type MCommand } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { CommandContext, EventInput } from '../core/registry.js';
import { StoreError } from '../store/event-store.js';

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
export async function runCommand(
  ctx: ServerContext,
  req: MCommand,
  clientId: string | undefined,
  auth: { claims?: Record<string, unknown> | undefined } = {},
): Promise<CommandOutcome> {
  const compiled = ctx.registry.command(req.commandId);
  if (!compiled) return { ok: false, code: ErrorCode.UnknownCommand, message: `unknown command ${req.commandId}` };
  // The seeds' `userToken`, inside the command (or beside it), authenticates this command alone.
  let claims = auth.claims;
  const token = req.command.userToken ?? req.userToken;
  if (typeof token === 'string' && token !== '' && ctx.auth) {
    try {
      claims = await ctx.auth.verify(token);
    } catch (err) {
      return { ok: false, code: ErrorCode.Unauthorized, message: `${req.commandId}: userToken rejected: ${(err as Error).message}` };
    }
  }
  const allowed = ctx.permissions.canRun(req.commandId, claims);
  if (allowed === false) return { ok: false, code: ErrorCode.Forbidden, message: `${req.commandId}: not permitted` };
  if (allowed === undefined && ctx.auth && !claims && !compiled.def.public)
    return { ok: false, code: ErrorCode.Unauthorized, message: `${req.commandId} requires authentication (a token at connect, or userToken)` };
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req.command)) if (!plumbing.has(k)) params[k] = v;
  const problem = compiled.check(params);
  if (problem) return { ok: false, code: ErrorCode.BadCommand, message: `${req.commandId}: ${problem}` };

  const cctx: CommandContext = {
    state: ctx.state,
    tx: typeof req.command.tx === 'string' && req.command.tx !== '' ? req.command.tx : randomUUID(),
    clientId,
    serverId: ctx.serverId,
    log: ctx.log,
    claims,
    emit: async (events) => {
      const list = (Array.isArray(events) ? events : [events]) as readonly EventInput[];
      await ctx.emit(list, { serverId: ctx.serverId, clientId, claims, trusted: true });
    },
    emitAsCaller: async (events) => {
      const list = (Array.isArray(events) ? events : [events]) as readonly EventInput[];
      await ctx.emit(list, { serverId: ctx.serverId, clientId, claims });
    },
    client: (id) => ctx.locateClient(id),
    sendToClient: (target, commandId, p, opts) => ctx.sendToClient(target, commandId, p, opts),
  };
  try {
    const response = await compiled.def.handler(params, cctx);
    return { ok: true, response };
  } catch (err) {
    const e = err as Error & { code?: string };
    // The store refusing the command's events (disk full, read-only, database down) is MYKO_STORE_FAILED, as for
    // the same write sent as an event: it was reported as MYKO_COMMAND_FAILED, a failure of the handler.
    const code = e.code ?? (err instanceof StoreError ? ErrorCode.StoreFailed : ErrorCode.CommandFailed);
    return { ok: false, code, message: e.message || String(err) };
  }
}
