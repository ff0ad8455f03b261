import { FrameworkQuery, FrameworkReport, perTypeBuiltinIds, type MItem } from '@myko/protocol';
import { typeName, type ItemLike, type ItemTypeRef, type QuerySpec, type ReportSpec } from './query-spec.js';

/**
 * Specs for the built-ins the reference server generates (WIRE.md 6.5), so an
 * app names them once and gets typed values: `client.watchReport(countWhere(Cue, {group: 'a'}))`.
 * Commands go through `sendCommand` (e.g. `deleteCommand(Cue)` gives the id).
 */

/** A cluster member as the server publishes it. */
export interface ServerItem {
  id: string;
  version: string;
  address: string;
  port: number;
  startedAt: string;
}

export interface ServerStatsValue {
  /** This server's Server item; null on a server that is not in a cluster. */
  server: ServerItem | null;
  clientCount: number;
  uptimeSeconds: number;
}

/** `CountAll{X}s`: the live number of items of the type. */
export function countAll(itemType: string | ItemTypeRef<ItemLike>): ReportSpec<{ count: number }> {
  return { reportId: perTypeBuiltinIds(typeName(itemType)).countAll, params: {} };
}

/** `Count{X}s {...fields}`: the live number of items whose fields match, as `byQuery` would select them. */
export function countWhere<T extends ItemLike = MItem>(
  itemType: string | ItemTypeRef<T>,
  fields: Partial<Record<keyof T & string, unknown>> | Record<string, unknown>,
): ReportSpec<{ count: number }> {
  return { reportId: perTypeBuiltinIds(typeName(itemType)).count, params: { ...fields } };
}

/** `Get{X}ById {id}`: the item, live; null while it does not exist. */
export function itemById<T extends ItemLike = MItem>(itemType: string | ItemTypeRef<T>, id: string): ReportSpec<T | null> {
  return { reportId: perTypeBuiltinIds(typeName(itemType)).getById, params: { id } };
}

/** `Delete{X}` (params `{id}`, response `{deleted: true}`) and `Delete{X}s` (params `{ids}`, response `{deletedCount}`). */
export function deleteCommand(itemType: string | ItemTypeRef<ItemLike>): { one: string; many: string } {
  const ids = perTypeBuiltinIds(typeName(itemType));
  return { one: ids.delete, many: ids.deleteMany };
}

/** Every other member of the server's cluster (empty on a lone server). */
export function peerServers(): QuerySpec<ServerItem> {
  return { queryId: FrameworkQuery.PeerServers, queryItemType: 'Server' };
}

/** The server this client is connected to (a cluster member's own Server item). */
export function connectedServer(): QuerySpec<ServerItem> {
  return { queryId: FrameworkQuery.ConnectedServer, queryItemType: 'Server' };
}

export function serverStats(): ReportSpec<ServerStatsValue> {
  return { reportId: FrameworkReport.ServerStats, params: {} };
}

/** Whether a client is connected (to this server or another cluster member). */
export function clientStatus(clientId: string): ReportSpec<{ online: boolean }> {
  return { reportId: FrameworkReport.ClientStatus, params: { clientId } };
}

/** This client's windback time (set with the `SetClientWindbackTime` command), or null. */
export function windbackStatus(): ReportSpec<{ windback: string | null }> {
  return { reportId: FrameworkReport.WindbackStatus, params: {} };
}
