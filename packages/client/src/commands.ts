import { Kind, type CommandErrorData, type CommandResponseData, type MCommand } from '@myko/protocol';
import type { WireFrame } from './codec.js';
import {
  ClientClosedError,
  ClientErrorCode,
  CommandAbortedError,
  CommandError,
  CommandTimeoutError,
  ConnectionLostError,
  type ServerError,
} from './errors.js';
import { randomId } from './ids.js';

/** The params and response of one command, for typed command maps. */
export interface CommandSpec<P extends object = Record<string, unknown>, R = unknown> {
  params: P;
  response: R;
}

/** Untyped use: any command id, object params, `unknown` responses. */
export type DefaultCommands = Record<string, CommandSpec>;

export type CommandParams<M, K extends keyof M> = M[K] extends { params: infer P } ? P : Record<string, unknown>;
export type CommandResponse<M, K extends keyof M> = M[K] extends { response: infer R } ? R : unknown;

export interface SendCommandOptions {
  /** Reject with CommandTimeoutError after this long (default: the client's `commandTimeoutMs`). */
  timeoutMs?: number;
  /** Reject with CommandAbortedError when it fires. A command already sent may still run on the server. */
  signal?: AbortSignal;
}

/** What a handler registered with `onCommand` learns besides the params. */
export interface IncomingCommandContext {
  commandId: string;
  tx: string;
  createdAt: string | undefined;
}

export type CommandHandler<P = Record<string, unknown>, R = unknown> = (params: P, ctx: IncomingCommandContext) => R | Promise<R>;

interface Pending {
  commandId: string;
  tx: string;
  frame: WireFrame;
  /** Written to a socket (then a lost socket means an unknown outcome), or still in the outbox. */
  sent: boolean;
  settle(err: Error | undefined, value?: unknown): void;
}

/** The connection as commands see it. */
export interface CommandLink {
  readonly isOpen: boolean;
  readonly isClosed: boolean;
  send(frame: WireFrame): void;
  sendIfOpen(frame: WireFrame): void;
  /** Take a frame back out of the outbox; false when it was already written. */
  withdraw(frame: WireFrame): boolean;
}

const plumbing = new Set(['tx', 'createdAt', 'userToken']);

/**
 * Commands both ways. Outgoing: correlate answers by tx; time out, abort,
 * and fail on a lost socket (a command is never re-sent: it may have run).
 * Incoming: run the app's handler and answer with its value or its error.
 */
export class Commands {
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, CommandHandler<never, unknown>>();

  constructor(
    private readonly link: CommandLink,
    private readonly defaultTimeoutMs: number,
  ) {}

  send(commandId: string, params: object, opts: SendCommandOptions = {}): Promise<unknown> {
    const tx = randomId();
    if (this.link.isClosed) return Promise.reject(new ClientClosedError(`cannot send ${commandId}`));
    if (opts.signal?.aborted) return Promise.reject(new CommandAbortedError(commandId, tx, opts.signal.reason));
    const frame: WireFrame = { event: Kind.Command, data: { commandId, command: { ...params, tx, createdAt: new Date().toISOString() } } };
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise((resolve, reject) => {
      const onAbort = () => p.settle(new CommandAbortedError(commandId, tx, opts.signal?.reason));
      const timer = setTimeout(() => p.settle(new CommandTimeoutError(commandId, tx, timeoutMs)), timeoutMs);
      const p: Pending = {
        commandId,
        tx,
        frame,
        sent: this.link.isOpen,
        settle: (err, value) => {
          if (this.pending.get(tx) !== p) return;
          this.pending.delete(tx);
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          // Given up before it left: it must not go out on the next reconnect.
          if (err && !p.sent) this.link.withdraw(frame);
          if (err) reject(err);
          else resolve(value);
        },
      };
      this.pending.set(tx, p);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.link.send(frame);
      } catch (err) {
        p.settle(err as Error);
      }
    });
  }

  onResponse(d: CommandResponseData): void {
    this.pending.get(d.tx)?.settle(undefined, d.response);
  }

  onError(d: CommandErrorData): void {
    const p = this.pending.get(d.tx);
    p?.settle(new CommandError(d.message, d.code ?? 'MYKO_COMMAND_FAILED', d.commandId || p.commandId, d.tx));
  }

  /** A `ws:m:error` naming the tx of one of our commands (e.g. a frame too large). */
  onServerError(tx: string, err: ServerError): boolean {
    const p = this.pending.get(tx);
    if (!p) return false;
    p.settle(err);
    return true;
  }

  /** The outbox was just flushed into a new socket. */
  onOpen(): void {
    for (const p of this.pending.values()) p.sent = true;
  }

  onLost(url: string): void {
    for (const p of [...this.pending.values()]) if (p.sent) p.settle(new ConnectionLostError(p.commandId, p.tx, url));
  }

  closeAll(): void {
    for (const p of [...this.pending.values()]) p.settle(new ClientClosedError(`${p.commandId} (tx ${p.tx}) got no answer`));
  }

  register(commandId: string, handler: CommandHandler<never, unknown>): () => void {
    if (this.handlers.has(commandId)) throw new Error(`a handler for ${commandId} is already registered`);
    this.handlers.set(commandId, handler);
    return () => {
      if (this.handlers.get(commandId) === handler) this.handlers.delete(commandId);
    };
  }

  /** A command from the server: answer exactly once, with the handler's value or its error. */
  onIncoming(d: MCommand): void {
    const { commandId, command } = d;
    const tx = command.tx;
    const handler = this.handlers.get(commandId);
    const fail = (message: string, code: string) =>
      this.link.sendIfOpen({ event: Kind.CommandError, data: { tx, commandId, message, code } });
    if (!handler) return fail(`no handler for command ${commandId} on this client`, ClientErrorCode.NoHandler);
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(command)) if (!plumbing.has(k)) params[k] = v;
    const ctx: IncomingCommandContext = { commandId, tx, createdAt: command.createdAt };
    new Promise((resolve) => resolve(handler(params as never, ctx))).then(
      (response) => this.link.sendIfOpen({ event: Kind.CommandResponse, data: { tx, response: response ?? null } }),
      (err: unknown) => {
        const e = err as { message?: unknown; code?: unknown } | null;
        const message = typeof e?.message === 'string' ? e.message : String(err);
        fail(message, typeof e?.code === 'string' ? e.code : ClientErrorCode.HandlerFailed);
      },
    );
  }
}
