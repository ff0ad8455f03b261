import { ErrorCode, FrameworkCommand, FrameworkQuery, FrameworkReport, type MItem } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { CommandContext, CommandDef, MykoPlugin, QueryDef, ReportDef } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import { deleteCommandResolver, perTypeReportResolver } from './per-type.js';

/**
 * The framework built-ins of the reference server (WIRE.md 6.5) and its
 * per-type reports and commands (per-type.ts), over the `Server` and `Client`
 * items this server already keeps (cluster/membership.ts, lifecycle/clients.ts):
 *
 *   queries   GetPeerServers        every Server but this one (the reference client's peer discovery)
 *             GetConnectedServer    this server's Server item
 *   reports   ServerStats           {server, clientCount, uptimeSeconds}
 *             ClientStatus {clientId} → {online}
 *             WindbackStatus        → {windback} of the calling client
 *   commands  SetClientWindbackTime {windback} / ClearClientWindbackTime → true
 *
 * Windback: the time is kept on the caller's `Client` item, and the
 * caller's live queries, views and reports answer from the state at that
 * time until it is cleared; its writes are refused meanwhile (live/windback.ts).
 *
 * `ctx` is read lazily: the plugin is registered before the context exists.
 */
export function frameworkPlugin(ctx: () => ServerContext): MykoPlugin {
  const startedAt = Date.now();
  const serverId = () => ctx().serverId;

  const peerServers: QueryDef = {
    id: FrameworkQuery.PeerServers,
    itemType: 'Server',
    compile: () => {
      const self = serverId();
      return { match: (item) => item.id !== self };
    },
  };
  const connectedServer: QueryDef = {
    id: FrameworkQuery.ConnectedServer,
    itemType: 'Server',
    compile: () => {
      const self = serverId();
      return { ids: [self], match: (item) => item.id === self };
    },
  };

  const serverStats: ReportDef = {
    id: FrameworkReport.ServerStats,
    dependsOn: () => ['Server', 'Client'],
    compute: (_p, state) => {
      const self = serverId();
      return {
        // Only a cluster member publishes its Server item (an embedded server has no peers): null there.
        server: state.get('Server', self) ?? null,
        clientCount: state.lookup('Client', 'serverId', self).size,
        uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
      };
    },
  };

  const clientStatus: ReportDef = {
    id: FrameworkReport.ClientStatus,
    dependsOn: (p) => (clientIdParam(p), ['Client', 'Server']),
    compute: (p, state) => ({ online: isOnline(state, clientIdParam(p), serverId()) }),
  };

  const windbackStatus: ReportDef = {
    id: FrameworkReport.WindbackStatus,
    dependsOn: () => ['Client'],
    // From live state even for a wound-back caller (whose reports read the past): its windback is now.
    compute: (_p, _state, caller) => {
      const w = caller?.clientId ? ctx().state.get('Client', caller.clientId)?.windback : undefined;
      return { windback: typeof w === 'string' ? w : null };
    },
  };

  const setWindback: CommandDef = {
    id: FrameworkCommand.SetClientWindbackTime,
    handler: async (params, cctx) => {
      const w = params.windback;
      // null (or absent) clears, as ClearClientWindbackTime: kinder than refusing a client that sends it.
      if (w === null || w === undefined) return writeWindback(ctx(), cctx, FrameworkCommand.SetClientWindbackTime, null);
      if (typeof w !== 'string' || Number.isNaN(Date.parse(w)))
        throw Object.assign(new Error(`${FrameworkCommand.SetClientWindbackTime}: params.windback must be an ISO 8601 time`), {
          code: ErrorCode.BadCommand,
        });
      return writeWindback(ctx(), cctx, FrameworkCommand.SetClientWindbackTime, w);
    },
  };
  const clearWindback: CommandDef = {
    id: FrameworkCommand.ClearClientWindbackTime,
    handler: (_params, cctx) => writeWindback(ctx(), cctx, FrameworkCommand.ClearClientWindbackTime, null),
  };

  return {
    name: 'myko-framework',
    queries: [peerServers, connectedServer],
    reports: [serverStats, clientStatus, windbackStatus],
    reportResolvers: [(id) => perTypeReportResolver(ctx().registry)(id)],
    commands: [setWindback, clearWindback],
    commandResolvers: [deleteCommandResolver],
  };
}

function clientIdParam(p: Record<string, unknown>): string {
  if (typeof p.clientId !== 'string' || p.clientId === '') throw new Error('params.clientId must be a non-empty string');
  return p.clientId;
}

/** Connected: its Client item exists, on this server or on a member whose Server item is present (cluster). */
function isOnline(state: StateReader, clientId: string, self: string): boolean {
  const client = state.get('Client', clientId);
  if (!client) return false;
  return client.serverId === self || (typeof client.serverId === 'string' && state.get('Server', client.serverId) !== undefined);
}

/** Set or clear `windback` on the caller's Client item, keeping its other fields. */
async function writeWindback(server: ServerContext, cctx: CommandContext, commandId: string, windback: string | null): Promise<true> {
  const clientId = cctx.clientId;
  if (!clientId) throw new Error(`${commandId}: windback belongs to a connection; this call has none`);
  let client = cctx.state.get('Client', clientId);
  // The Client item is written on connect without waiting: a command sent at once may arrive before it is committed.
  if (!client) {
    await server.writer.barrier();
    client = cctx.state.get('Client', clientId);
  }
  if (!client) throw new Error(`${commandId}: client ${clientId} not found`);
  if (client.windback !== windback) {
    // Without the old hash, so the server computes the new item's (a given hash is kept as is).
    const { hash: _stale, ...fields } = client;
    // As the server, not the caller: a wound-back client's own writes are refused, and this one must pass.
    await server.emit([{ itemType: 'Client', changeType: 'SET', item: { ...fields, windback } as MItem }], { serverId: server.serverId });
  }
  // Answer its live results again (from the past, or from live state) before the command's response.
  if (windback === null) server.windback.clear(clientId);
  else await server.windback.set(clientId, windback);
  return true;
}
