import { ErrorCode, type WireError } from '@myko/protocol';

/**
 * Codes of failures the client itself detects. Errors the server reports keep
 * the server's code (`ErrorCode` of @myko/protocol, docs/ERRORS.md).
 */
export const ClientErrorCode = {
  /** A command got no answer within its timeout. */
  Timeout: 'MYKO_CLIENT_TIMEOUT',
  /** The caller's AbortSignal fired before the answer came. */
  Aborted: 'MYKO_CLIENT_ABORTED',
  /** The connection dropped after the command was sent: it may or may not have run. */
  ConnectionLost: 'MYKO_CLIENT_CONNECTION_LOST',
  /** `close()` was called. */
  Closed: 'MYKO_CLIENT_CLOSED',
  /** Too many frames queued while disconnected (`maxQueuedFrames`). */
  QueueFull: 'MYKO_CLIENT_QUEUE_FULL',
  /** A handler the app registered with `onCommand` threw. */
  HandlerFailed: 'MYKO_CLIENT_HANDLER_FAILED',
  /** The server sent a command no handler is registered for. */
  NoHandler: 'MYKO_UNKNOWN_COMMAND',
  /** A frame from the server this client cannot use (wrong shape, or handling it failed); reported through onError. */
  BadFrame: 'MYKO_CLIENT_BAD_FRAME',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Base of every error this package produces: a stable `code`, the `cause` when there is one. */
export class MykoClientError extends Error {
  override name = 'MykoClientError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server answered a command with `ws:m:command-error`. */
export class CommandError extends MykoClientError {
  override name = 'CommandError';
  constructor(
    message: string,
    code: string,
    readonly commandId: string,
    readonly tx: string,
  ) {
    super(message, code);
  }
}

export class CommandTimeoutError extends MykoClientError {
  override name = 'CommandTimeoutError';
  constructor(
    readonly commandId: string,
    readonly tx: string,
    readonly timeoutMs: number,
  ) {
    super(`${commandId} got no answer within ${timeoutMs} ms (tx ${tx})`, ClientErrorCode.Timeout);
  }
}

export class CommandAbortedError extends MykoClientError {
  override name = 'CommandAbortedError';
  constructor(
    readonly commandId: string,
    readonly tx: string,
    reason: unknown,
  ) {
    super(`${commandId} was aborted (tx ${tx})`, ClientErrorCode.Aborted, { cause: reason });
  }
}

/** In-flight commands fail with this when the socket drops: resending could run them twice. */
export class ConnectionLostError extends MykoClientError {
  override name = 'ConnectionLostError';
  constructor(
    readonly commandId: string,
    readonly tx: string,
    readonly url: string,
  ) {
    super(`connection to ${url} lost while ${commandId} (tx ${tx}) was in flight; it may or may not have run`, ClientErrorCode.ConnectionLost);
  }
}

export class ClientClosedError extends MykoClientError {
  override name = 'ClientClosedError';
  constructor(what: string) {
    super(`client closed: ${what}`, ClientErrorCode.Closed);
  }
}

export class QueueFullError extends MykoClientError {
  override name = 'QueueFullError';
  constructor(readonly limit: number) {
    super(`more than ${limit} frames queued while disconnected`, ClientErrorCode.QueueFull);
  }
}

/** The server answered a live query with `ws:m:query-error`. */
export class QueryError extends MykoClientError {
  override name = 'QueryError';
  constructor(
    message: string,
    readonly queryId: string,
    readonly tx: string,
  ) {
    super(message, ErrorCode.QueryFailed);
  }
}

/** The server answered a live view with `ws:m:view-error` (unknown view, bad params, the view failed). */
export class ViewError extends QueryError {
  override name = 'ViewError';
  constructor(
    message: string,
    readonly viewId: string,
    tx: string,
  ) {
    super(message, viewId, tx);
  }
}

/** The server answered a live report with `ws:m:report-error`. */
export class ReportError extends MykoClientError {
  override name = 'ReportError';
  constructor(
    message: string,
    readonly reportId: string,
    readonly tx: string,
  ) {
    super(message, ErrorCode.QueryFailed);
  }
}

/** A `ws:m:error` frame: the server could not process something this client sent. */
export class ServerError extends MykoClientError {
  override name = 'ServerError';
  readonly kind: string | undefined;
  readonly tx: string | undefined;
  readonly index: number | undefined;
  constructor(wire: WireError) {
    super(wire.message, wire.code);
    this.kind = wire.kind;
    this.tx = wire.tx;
    this.index = wire.index;
  }
}

/*
 * Guards compare `name` as well as the prototype chain, so they still hold
 * when two copies of this package end up in one bundle.
 */
const guard =
  <T extends Error>(cls: abstract new (...args: never[]) => T, name: string) =>
  (e: unknown): e is T =>
    e instanceof cls || (e instanceof Error && e.name === name);

export const isMykoClientError = (e: unknown): e is MykoClientError => e instanceof MykoClientError;
export const isCommandError = guard(CommandError, 'CommandError');
export const isCommandTimeoutError = guard(CommandTimeoutError, 'CommandTimeoutError');
export const isCommandAbortedError = guard(CommandAbortedError, 'CommandAbortedError');
export const isConnectionLostError = guard(ConnectionLostError, 'ConnectionLostError');
export const isClientClosedError = guard(ClientClosedError, 'ClientClosedError');
export const isQueueFullError = guard(QueueFullError, 'QueueFullError');
export const isQueryError = guard(QueryError, 'QueryError');
export const isViewError = guard(ViewError, 'ViewError');
export const isReportError = guard(ReportError, 'ReportError');
export const isServerError = guard(ServerError, 'ServerError');
