import { randomUUID } from 'node:crypto';
import { ErrorCode, type MItem } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import { checkEvent } from '../wire/validate.js';
import { EventRejected } from '../core/normalize.js';
import { StoreError } from '../store/event-store.js';
import { runCommand } from '../commands/run-command.js';

/**
 * Writes and commands from the `$` and EventRPC endpoints go through the same
 * path as Myko ones: the item type's `prepare` hook, the wire schema of an
 * MEvent, then `ctx.emit` (normalise, item type validator, log, state,
 * broadcast) or `runCommand`. Watchers on every protocol see the result.
 */

export type Outcome = { ok: true; value: unknown } | { ok: false; code: ErrorCode | string; message: string };

/** How the EventRPC spec classes a failure: `rejected` = the request was refused before running (4xx), `failed` = it ran and failed (5xx). */
export function failureKind(code: string): 'rejected' | 'failed' {
  return code === ErrorCode.BadCommand ||
    code === ErrorCode.UnknownCommand ||
    code === ErrorCode.BadEvent ||
    code === ErrorCode.BadFrame ||
    code === ErrorCode.BadQuery ||
    code === ErrorCode.BadReport ||
    code === ErrorCode.UnknownReport ||
    code === ErrorCode.UnknownKind ||
    code === ErrorCode.Unauthorized ||
    code === ErrorCode.Forbidden ||
    code === ErrorCode.RateLimited
    ? 'rejected'
    : 'failed';
}

/**
 * SET or DEL one item as the connection `clientId`. Resolves with the item as
 * committed (hash filled in) once it is in the log; never rejects.
 */
/** Who is asking: the peer's connection id and its handshake token's claims. */
export interface Caller {
  clientId: string;
  claims?: Record<string, unknown> | undefined;
}

export async function writeItem(
  ctx: ServerContext,
  caller: Caller,
  itemType: string,
  changeType: 'SET' | 'DEL',
  item: unknown,
  tx: string = randomUUID(),
): Promise<Outcome> {
  let raw: { itemType: string; changeType: 'SET' | 'DEL'; item: unknown; tx: string } = { itemType, changeType, item, tx };
  const prepare = ctx.registry.itemType(itemType)?.def.prepare;
  if (prepare && item && typeof item === 'object' && !Array.isArray(item)) raw = { ...raw, item: prepare(item as Record<string, unknown>) };
  const checked = checkEvent(raw, 'event');
  if (!checked.ok) return { ok: false, code: ErrorCode.BadEvent, message: checked.message };
  try {
    const [stored] = await ctx.emit([checked.value], { serverId: ctx.serverId, clientId: caller.clientId, claims: caller.claims });
    return { ok: true, value: stored?.item as MItem };
  } catch (err) {
    if (err instanceof EventRejected) return { ok: false, code: err.code, message: err.message };
    if (!(err instanceof StoreError)) ctx.log.error({ err }, 'write failed');
    return { ok: false, code: ErrorCode.StoreFailed, message: (err as Error).message };
  }
}

/** Run a registered Myko command as the caller. Never rejects. */
export async function runAsCommand(
  ctx: ServerContext,
  caller: Caller,
  commandId: string,
  params: Record<string, unknown>,
  tx: string = randomUUID(),
): Promise<Outcome> {
  try {
    const outcome = await runCommand(ctx, { commandId, command: { ...params, tx } }, caller.clientId, { claims: caller.claims });
    if (outcome.ok) return { ok: true, value: outcome.response };
    return { ok: false, code: outcome.code, message: outcome.message };
  } catch (err) {
    ctx.log.error({ err, commandId }, 'command path failed');
    return { ok: false, code: ErrorCode.CommandFailed, message: (err as Error).message || String(err) };
  }
}

/** `ITEMTYPE/ID` split at the first `/` (the id may contain more); undefined when either part is empty. */
export function splitAggregateId(id: string): { itemType: string; id: string } | undefined {
  const i = id.indexOf('/');
  if (i <= 0 || i === id.length - 1) return undefined;
  return { itemType: id.slice(0, i), id: id.slice(i + 1) };
}
