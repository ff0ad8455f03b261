/**
 * @myko/client — the public API, listed name by name. Nothing here imports a
 * Node built-in or `ws`: the Node adapter lives in `@myko/client/node`.
 */
export { MykoClient, type StatusWatch } from './client.js';
export type { MykoClientOptions, ReconnectOptions } from './options.js';
export { defaults, backoffDelay, MAX_BATCH_EVENTS } from './options.js';
export type { ConnectionStatus, ConnectionStatusType } from './status.js';
export { browserTransport, domTransport, type Transport, type TransportHandlers, type TransportSocket } from './transport.js';
export {
  countAll,
  countWhere,
  itemById,
  deleteCommand,
  peerServers,
  connectedServer,
  serverStats,
  clientStatus,
  windbackStatus,
  type ServerItem,
  type ServerStatsValue,
} from './builtins.js';
export { getAll, byIds, byQuery, countOf, itemType, view, type QuerySpec, type ViewSpec, type ReportSpec, type ItemLike, type ItemTypeRef } from './query-spec.js';
export type { LiveQuery, LiveQueryDiff, QueryResult, QueryChange } from './queries.js';
export type { LiveReport } from './reports.js';
export type { LiveHandle } from './live.js';
export type {
  CommandSpec,
  DefaultCommands,
  CommandParams,
  CommandResponse,
  SendCommandOptions,
  CommandHandler,
  IncomingCommandContext,
} from './commands.js';
export {
  ClientErrorCode,
  MykoClientError,
  CommandError,
  CommandTimeoutError,
  CommandAbortedError,
  ConnectionLostError,
  ClientClosedError,
  QueueFullError,
  QueryError,
  ViewError,
  ReportError,
  ServerError,
  isMykoClientError,
  isCommandError,
  isCommandTimeoutError,
  isCommandAbortedError,
  isConnectionLostError,
  isClientClosedError,
  isQueueFullError,
  isQueryError,
  isViewError,
  isReportError,
  isServerError,
} from './errors.js';
export type { MItem, MEvent, QueryWindow } from '@myko/protocol';
