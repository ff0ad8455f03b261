import type { MItem } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { EventInput } from '../core/registry.js';

/**
 * WIRE.md 1.4: a `Client` item per connection, and cleanup of what a client
 * owned when it goes. Runs through the ordinary event path, so watchers see
 * it as diffs and the log records it.
 */
export function clientItem(
  ctx: ServerContext,
  clientId: string,
  address: string,
  connectedAt: string,
  dialect: 'seed' | 'current' = 'current',
  executor?: '2023',
): MItem {
  // `dialect` lets other cluster members choose command names for this client (e.g. target:action:exec);
  // `executor: '2023'` says it never answers commands (gateway/client-kind.ts).
  // `windback` null as in the reference server's Client (Option<str>); SetClientWindbackTime sets it.
  return { id: clientId, serverId: ctx.serverId, address, connectedAt, dialect, windback: null, ...(executor ? { executor } : {}) };
}

/** The events that retire a client: its owned items (per type's declaration), then its Client item. */
export function retireEvents(ctx: ServerContext, clientId: string): EventInput[] {
  const out: EventInput[] = [];
  for (const t of ctx.registry.ownedItemTypes()) {
    const owner = t.def.owner!;
    for (const id of [...ctx.state.lookup(t.def.name, owner.field, clientId)]) {
      const item = ctx.state.get(t.def.name, id)!;
      if (owner.onDisconnect === 'delete') out.push({ itemType: t.def.name, changeType: 'DEL', item: { id } });
      else {
        const next = owner.onDisconnect(item, ctx.state);
        if (next) out.push({ itemType: t.def.name, changeType: 'SET', item: next });
      }
    }
  }
  if (ctx.state.get('Client', clientId)) out.push({ itemType: 'Client', changeType: 'DEL', item: { id: clientId } });
  return out;
}

/**
 * A connection closed (not at shutdown): once every write submitted before now is committed, its own
 * Client item among them (a quick connect-and-close), retire it and what it owned. The shutdown waits
 * for retirements under way (ctx.retiring), so one that started before it is not cut off.
 */
export function retireClosed(ctx: ServerContext, clientId: string): Promise<void> {
  const retiring: Promise<void> = ctx.writer
    .barrier()
    .then(() => {
      const events = retireEvents(ctx, clientId);
      return events.length === 0 ? undefined : ctx.emit(events, { serverId: ctx.serverId });
    })
    .then(
      () => undefined,
      (err: unknown) => ctx.log.error({ err, clientId }, 'client cleanup failed'),
    )
    .finally(() => ctx.retiring.delete(retiring));
  ctx.retiring.add(retiring);
  return retiring;
}

/**
 * Boot: Client items this server left behind (a crash, a kill -9) belong to
 * connections that no longer exist. Retire them and what they owned.
 */
export async function reapStaleClients(ctx: ServerContext, isMine: (client: MItem) => boolean): Promise<number> {
  const stale = [...ctx.state.all('Client')].filter(isMine).map((c) => c.id);
  const events = stale.flatMap((id) => retireEvents(ctx, id));
  if (events.length > 0) await ctx.emit(events, { serverId: ctx.serverId });
  return stale.length;
}
