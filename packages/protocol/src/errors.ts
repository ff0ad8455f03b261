/**
 * Stable error codes. Every rejection the server sends carries one of these in
 * `data.code`; the prose in `data.message` is for people and may change.
 * docs/ERRORS.md lists them with their meaning; keep both in step.
 */
export const ErrorCode = {
  /** A text frame that is not valid UTF-8 or not valid JSON. */
  BadJson: 'MYKO_BAD_JSON',
  /** A binary frame that is not valid CBOR. */
  BadCbor: 'MYKO_BAD_CBOR',
  /** The frame is not an object `{event, data}`. */
  BadFrame: 'MYKO_BAD_FRAME',
  /** `event` names no frame kind this endpoint accepts. */
  UnknownKind: 'MYKO_UNKNOWN_KIND',
  /** A frame larger than the configured limit (`maxFrameBytes`). */
  FrameTooLarge: 'MYKO_FRAME_TOO_LARGE',
  /** An event (or one event of a batch) has the wrong shape or fails its item type's validator. */
  BadEvent: 'MYKO_BAD_EVENT',
  /** A query request has the wrong shape. */
  BadQuery: 'MYKO_BAD_QUERY',
  /** A report request has the wrong shape. */
  BadReport: 'MYKO_BAD_REPORT',
  /** A command request has the wrong shape. */
  BadCommand: 'MYKO_BAD_COMMAND',
  /** A command id no handler is registered for. */
  UnknownCommand: 'MYKO_UNKNOWN_COMMAND',
  /** A report id no report is registered for. */
  UnknownReport: 'MYKO_UNKNOWN_REPORT',
  /** A command handler threw or rejected. */
  CommandFailed: 'MYKO_COMMAND_FAILED',
  /** A query or report could not be evaluated. */
  QueryFailed: 'MYKO_QUERY_FAILED',
  /** The durable store refused the write; nothing of the batch was applied. */
  StoreFailed: 'MYKO_STORE_FAILED',
  /** A command sent to a client got no answer in time. */
  Timeout: 'MYKO_TIMEOUT',
  /** No valid token where one is required (handshake, command, `userToken`). */
  Unauthorized: 'MYKO_UNAUTHORIZED',
  /** A permission rule, or another live client's ownership, refuses it. */
  Forbidden: 'MYKO_FORBIDDEN',
  /** Over the connection's messages/s or events/s budget. */
  RateLimited: 'MYKO_RATE_LIMITED',
  /** Over the connection's live query (and report) limit. */
  TooManyQueries: 'MYKO_TOO_MANY_QUERIES',
  /** The connection reads slower than its subscriptions change (close reason). */
  SlowConsumer: 'MYKO_SLOW_CONSUMER',
  /** The server is shutting down (close reason). */
  ShuttingDown: 'MYKO_SHUTTING_DOWN',
  /** A command names an item that does not exist (`Delete{X} {id}`). */
  NotFound: 'MYKO_NOT_FOUND',
  /** The client is wound back (`SetClientWindbackTime`): it reads the past and may not write until `ClearClientWindbackTime`. */
  WoundBack: 'MYKO_WOUND_BACK',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The body of a `ws:m:error` frame. */
export interface WireError {
  code: ErrorCode;
  message: string;
  /** The frame kind that was rejected, when it could be read. */
  kind?: string;
  /** The request's tx, when it could be read. */
  tx?: string;
  /** For event batches: the index of the first bad event. */
  index?: number;
}

/** WebSocket close codes used by the server, in one place. */
export const CloseCode = {
  GoingAway: 1001,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  TryAgainLater: 1013,
} as const;
