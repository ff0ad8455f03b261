/**
 * The executor SDK's public shapes: options, the arguments of each `add*`,
 * what an action handler is given, and the error a handler throws.
 */
import type { MykoClientOptions } from '@myko/client';
import type { Action } from '../entities.js';
import type { ExecutorSession } from './session.js';
import type { ExecutorInstance } from './instance.js';
import type { ExecutorTarget } from './target.js';
import type { ExecutorAction } from './dispatch.js';
import type { SchemaLike } from './schema.js';

export interface ExecutorOptions extends MykoClientOptions {
  /**
   * After each registration, SET offline the TargetStatuss of this session's
   * instances that name targets it does not have (targets of an earlier run).
   * Default true.
   */
  reconcile?: boolean;
  /** After re-registering, send each emitter's last pulse again (the server keeps pulses in memory only). Default true. */
  resendPulses?: boolean;
  /** How long `close()` waits for the server to confirm the offline statuses before it disconnects anyway. Default 2000. */
  closeTimeoutMs?: number;
}

export interface MachineArgs {
  /** Default: slug of the name. */
  id?: string;
  name: string;
  execName?: string;
  dnsName?: string;
  addresses?: string[];
}

export interface InstanceArgs {
  /** Must be unique among all executors of the server. Default: slug of the name. */
  id?: string;
  name: string;
  serviceId: string;
  serviceTypeCode: string;
  /** Name of the Service item; default the serviceId. */
  serviceName?: string;
  color?: string;
  machine?: MachineArgs;
}

export interface TargetArgs {
  /** Default `${instanceId}:${slug(name)}`, for a sub-target `${parentId}:${slug(name)}`. */
  id?: string;
  name: string;
  bgColor: string;
  fgColor: string;
  category?: string;
  /** Default: true for targets of the instance, false for sub-targets. */
  rootLevel?: boolean;
  tags?: string[];
}

export interface ActionArgs<S extends SchemaLike = SchemaLike> {
  /** Default `${targetId}:${slug(name)}`. */
  id?: string;
  name: string;
  schema?: S;
}

export interface EmitterArgs {
  /** Default `${targetId}:${slug(name)}`. */
  id?: string;
  name: string;
  schema?: SchemaLike;
}

/** What an action handler learns besides the payload. */
export interface ActionContext {
  session: ExecutorSession;
  instance: ExecutorInstance;
  target: ExecutorTarget;
  action: ExecutorAction;
  /** The Action as the server stored and forwarded it (undefined in compact batches, which carry only its id). */
  stored: Action | undefined;
  /** `ExecTargetAction`, `BatchTargetAction`, `CompactBatchTargetAction` or `target:action:exec`. */
  commandId: string;
  tx: string;
  /** The instance the server routed to. */
  instanceId: string;
  /** The target acted on: the action's own, or a compact batch assignment's. */
  targetId: string;
}

export type ActionHandler<T = unknown, R = unknown> = (data: T, ctx: ActionContext) => R | Promise<R>;

export interface RegistrationInfo {
  clientId: string;
  url: string;
  /** Items SET in the registration batch. */
  items: number;
  /** TargetStatus ids this registration found online without a target here, and set offline. */
  staleOffline: string[];
}

/** An error with a code: the controller receives `ws:m:command-error {code, message}`. Throw it from handlers too. */
export class ExecutorError extends Error {
  override name = 'ExecutorError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** @internal An item as registered. */
export type Item = { id: string; [k: string]: unknown };
/** @internal An item with its type, ready to SET. */
export type Built = readonly [itemType: string, item: Item];

/** Registration order: what a Target references is written before it. */
const typeOrder: Record<string, number> = { Machine: 0, Service: 1, Instance: 2, Action: 3, Emitter: 4, Target: 5, TargetStatus: 6 };
export const byTypeOrder = (a: Built, b: Built) => (typeOrder[a[0]] ?? 9) - (typeOrder[b[0]] ?? 9);
