import { MykoClient, type StatusWatch } from '@myko/client';
import type { Pulse } from '../entities.js';
import { ServerLink } from './connection.js';
import { attachDispatch, type ExecutorAction } from './dispatch.js';
import { slug } from './ids.js';
import { ExecutorInstance } from './instance.js';
import type { ExecutorEmitter } from './pulses.js';
import { ExecutorRegistry } from './registry.js';
import type { Built, ExecutorOptions, InstanceArgs, RegistrationInfo } from './types.js';

export { ExecutorInstance } from './instance.js';
export { ExecutorTarget } from './target.js';
export { ExecutorAction } from './dispatch.js';
export { ExecutorEmitter } from './pulses.js';
export {
  ExecutorError,
  type ExecutorOptions,
  type MachineArgs,
  type InstanceArgs,
  type TargetArgs,
  type ActionArgs,
  type EmitterArgs,
  type ActionContext,
  type ActionHandler,
  type RegistrationInfo,
} from './types.js';

/**
 * The executor SDK: one session (a reconnecting @myko/client connection)
 * holding a model of what this executor offers — instances, targets,
 * actions, emitters — and keeping the server's copy of it true. The session
 * is the API's front; each concern has its module:
 *
 *   registry.ts, instance.ts, target.ts   what the executor offers
 *   connection.ts                         registration, reconciliation, changes while connected
 *   dispatch.ts                           actions invoked by controllers
 *   pulses.ts                             emitters' values
 */

/** Start an executor session: connects at once and keeps reconnecting. Node: pass `transport: nodeTransport`, or use `@myko/rship/node`. */
export function connect(options: ExecutorOptions): ExecutorSession {
  return new ExecutorSession(options);
}

export class ExecutorSession {
  /** The underlying client (for queries or commands of your own). */
  readonly client: MykoClient;
  private readonly registry = new ExecutorRegistry();
  private readonly link: ServerLink;
  private readonly closeTimeoutMs: number;
  private readonly errorListeners = new Set<(e: Error) => void>();
  private closing: Promise<void> | undefined;
  private closedFlag = false;

  constructor(options: ExecutorOptions) {
    const { reconcile, resendPulses, closeTimeoutMs, ...clientOptions } = options;
    this.closeTimeoutMs = closeTimeoutMs ?? 2000;
    this.client = new MykoClient({ ...clientOptions, immediateTypes: [...new Set([...(clientOptions.immediateTypes ?? []), 'Pulse'])] });
    this.client.onError((e) => this.emitError(e));
    attachDispatch(this.client, this, this.registry);
    this.link = new ServerLink(this.client, this.registry, { reconcile: reconcile ?? true, resendPulses: resendPulses ?? true }, (e) => this.emitError(e));
  }

  /** Connection status of the underlying client. */
  get status(): StatusWatch {
    return this.client.status;
  }

  /** The server's id for the current connection; undefined while disconnected. */
  get clientId(): string | undefined {
    return this.client.clientId;
  }

  /** True once this connection's registration is written and confirmed (reconciled), until it drops. */
  get isRegistered(): boolean {
    return this.link.registration !== undefined;
  }

  get instances(): ReadonlyMap<string, ExecutorInstance> {
    return this.registry.instances;
  }

  /** Add an instance of a service run by this executor. Registered at once when connected. */
  addInstance(args: InstanceArgs): ExecutorInstance {
    this.assertOpen();
    if (typeof args?.name !== 'string' || args.name === '') throw new TypeError('addInstance needs a name');
    if (typeof args.serviceId !== 'string' || args.serviceId === '') throw new TypeError('addInstance needs a serviceId');
    if (typeof args.serviceTypeCode !== 'string' || args.serviceTypeCode === '') throw new TypeError('addInstance needs a serviceTypeCode');
    const id = args.id ?? slug(args.name);
    if (this.registry.instances.has(id)) throw new Error(`instance ${id} was already added`);
    const inst = new ExecutorInstance(this, id, args);
    this.registry.instances.set(id, inst);
    inst.touchAll();
    this.link.instanceAdded(inst);
    return inst;
  }

  /** Resolves when the current connection's registration is done (at once if it is); rejects if the session closes first. */
  registered(): Promise<RegistrationInfo> {
    const info = this.link.registration;
    if (info) return Promise.resolve(info);
    if (this.closedFlag) return Promise.reject(new Error('the executor session is closed'));
    return new Promise((resolve, reject) => {
      const off = this.onRegistered((info) => {
        off();
        offClose();
        resolve(info);
      });
      const offClose = this.client.status.subscribe((s) => {
        if (s.type !== 'closed') return;
        off();
        queueMicrotask(() => offClose());
        reject(new Error('the executor session closed before it registered'));
      });
    });
  }

  /** Called after every (re)registration. Returns the unsubscribe. */
  onRegistered(cb: (info: RegistrationInfo) => void): () => void {
    return this.link.onRegistered(cb);
  }

  /** Errors that belong to no call: events the server refused, failed registrations, transport errors. */
  onError(cb: (e: Error) => void): () => void {
    this.errorListeners.add(cb);
    return () => this.errorListeners.delete(cb);
  }

  /**
   * Mark every target offline and every instance Unavailable, wait (at most
   * `closeTimeoutMs`) for the server to have them, and disconnect for good.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.link.close(() => this.registry.goingAway(), this.closeTimeoutMs);
      this.closedFlag = true;
      this.client.close();
    })();
    return this.closing;
  }

  // ---- internal, used by the model classes ----

  /** @internal Remember that an item changed; sent at the end of the microtask when connected. */
  _touch(itemType: string, id: string, build: () => Built | undefined): void {
    this.link.touch(itemType, id, build);
  }

  /** @internal */
  _addAction(a: ExecutorAction): void {
    this.registry.addAction(a);
  }

  /** @internal */
  _addEmitter(e: ExecutorEmitter): void {
    this.registry.addEmitter(e);
  }

  /** @internal Send a pulse now when registered on a live connection; false when it was only kept. */
  _pulse(p: Pulse): boolean {
    if (this.closing) return false;
    return this.link.sendNow('Pulse', p);
  }

  /** @internal */
  _assertOpen(): void {
    this.assertOpen();
  }

  private assertOpen(): void {
    if (this.closing || this.closedFlag) throw new Error('the executor session is closed');
  }

  private emitError(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    for (const cb of [...this.errorListeners]) {
      try {
        cb(err);
      } catch {
        // a listener's own failure is not reported again
      }
    }
  }
}
