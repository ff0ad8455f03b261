/**
 * Frame kinds of the Myko WebSocket protocol (WIRE.md 1.2). Every frame is
 * `{event: KIND, data}`; these constants are the only place the strings live.
 */
export const Kind = {
  Event: 'ws:m:event',
  EventBatch: 'ws:m:event-batch',
  Query: 'ws:m:query',
  QueryResponse: 'ws:m:query-response',
  QueryWindow: 'ws:m:query-window',
  QueryCancel: 'ws:m:query-cancel',
  QueryError: 'ws:m:query-error',
  /** Keyset paging of a live query: `{tx, window: {after?, before?, limit}}` (WIRE.md 6.2). */
  QueryCursorWindow: 'ws:m:query-cursor-window',
  /** Views (WIRE.md 6.3): server-defined live queries; responses have exactly the query-response shape. */
  View: 'ws:m:view',
  ViewResponse: 'ws:m:view-response',
  ViewWindow: 'ws:m:view-window',
  ViewCancel: 'ws:m:view-cancel',
  ViewError: 'ws:m:view-error',
  Report: 'ws:m:report',
  ReportResponse: 'ws:m:report-response',
  ReportCancel: 'ws:m:report-cancel',
  ReportError: 'ws:m:report-error',
  Command: 'ws:m:command',
  CommandResponse: 'ws:m:command-response',
  CommandError: 'ws:m:command-error',
  Ping: 'ws:m:ping',
  /** Client → server, any data: load-test traffic of the reference client; counted, never answered (WIRE.md 6.5). */
  Benchmark: 'ws:m:benchmark',
  /** Server → client: a request could not be processed (not in the seeds; see docs/ERRORS.md). */
  Error: 'ws:m:error',
} as const;

export type Kind = (typeof Kind)[keyof typeof Kind];

/** Commands the server sends on connect (WIRE.md 1.4). */
export const SetClientIdCommand = 'SetClientId';
/** The same, under the name 2023 executors listen for. */
export const LegacySetClientIdCommand = 'client:setId';
