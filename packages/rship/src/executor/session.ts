import {
  MykoClient,
  byIds,
  byQuery,
  type ConnectionStatus,
  type IncomingCommandContext,
  type MykoClientOptions,
  type StatusWatch,
} from '@myko/client';
import type { Action, Emitter, Instance, Machine, Pulse, Service, Target, TargetStatus } from '../entities.js';
import { RshipCommand, targetStatusId } from '../entities.js';
import { childId, slug } from './ids.js';
import { resolveSchema, type InferData, type SchemaLike } from './schema.js';

/**
 * The executor SDK: one session (a reconnecting @myko/client connection)
 * holding a model of what this executor offers — instances, targets,
 * actions, emitters — and keeping the server's copy of it true.
 *
 *   connected (new clientId) ─▶ one batch: Machine, Service, Instance (Available),
 *        Action, Emitter, Target, TargetStatus (online) ─▶ last pulses again
 *        ─▶ GetTargetStatussByQuery {instanceId}: statuses of this instance that
 *           this session does not have ─▶ SET offline ─▶ `registered`
 *   changes while connected ─▶ SET the changed items at the end of the microtask
 *   disconnected ─▶ nothing is queued; the next connection registers everything again
 */

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

type Item = { id: string; [k: string]: unknown };
type Built = readonly [itemType: string, item: Item];

/** Registration order: what a Target references is written before it. */
const typeOrder: Record<string, number> = { Machine: 0, Service: 1, Instance: 2, Action: 3, Emitter: 4, Target: 5, TargetStatus: 6 };
const byTypeOrder = (a: Built, b: Built) => (typeOrder[a[0]] ?? 9) - (typeOrder[b[0]] ?? 9);

/** Start an executor session: connects at once and keeps reconnecting. Node: pass `transport: nodeTransport`, or use `@myko/rship/node`. */
export function connect(options: ExecutorOptions): ExecutorSession {
  return new ExecutorSession(options);
}

export class ExecutorSession {
  /** The underlying client (for queries or commands of your own). */
  readonly client: MykoClient;
  private readonly opts: { reconcile: boolean; resendPulses: boolean; closeTimeoutMs: number };
  private readonly instanceMap = new Map<string, ExecutorInstance>();
  private readonly actionMap = new Map<string, ExecutorAction>();
  private readonly emitterMap = new Map<string, ExecutorEmitter>();
  /** Items changed since the last flush, by type and id. */
  private readonly dirty = new Map<string, () => Built | undefined>();
  private flushScheduled = false;
  /** Instances added while live, to reconcile after the next flush. */
  private readonly toReconcile = new Set<ExecutorInstance>();
  /** The clientId whose connection has our registration, or undefined. */
  private liveClientId: string | undefined;
  private generation = 0;
  private info: RegistrationInfo | undefined;
  private readonly registeredListeners = new Set<(info: RegistrationInfo) => void>();
  private readonly errorListeners = new Set<(e: Error) => void>();
  private closing: Promise<void> | undefined;
  private closedFlag = false;

  constructor(options: ExecutorOptions) {
    const { reconcile, resendPulses, closeTimeoutMs, ...clientOptions } = options;
    this.opts = { reconcile: reconcile ?? true, resendPulses: resendPulses ?? true, closeTimeoutMs: closeTimeoutMs ?? 2000 };
    this.client = new MykoClient({ ...clientOptions, immediateTypes: [...new Set([...(clientOptions.immediateTypes ?? []), 'Pulse'])] });
    this.client.onError((e) => this.emitError(e));
    const exec = (p: Record<string, unknown>, c: IncomingCommandContext) => this.exec(p, c);
    this.client.onCommand(RshipCommand.ExecTargetAction, exec);
    this.client.onCommand(RshipCommand.LegacyExecTargetAction, exec);
    this.client.onCommand(RshipCommand.BatchTargetAction, (p, c) => this.batch(p, c));
    this.client.onCommand(RshipCommand.CompactBatchTargetAction, (p, c) => this.compactBatch(p, c));
    this.client.onCommand(RshipCommand.ResendEmitterValue, (p) => this.resendEmitterValue(p));
    this.client.status.subscribe((s) => this.onStatus(s));
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
    return this.info !== undefined;
  }

  get instances(): ReadonlyMap<string, ExecutorInstance> {
    return this.instanceMap;
  }

  /** Add an instance of a service run by this executor. Registered at once when connected. */
  addInstance(args: InstanceArgs): ExecutorInstance {
    this.assertOpen();
    if (typeof args?.name !== 'string' || args.name === '') throw new TypeError('addInstance needs a name');
    if (typeof args.serviceId !== 'string' || args.serviceId === '') throw new TypeError('addInstance needs a serviceId');
    if (typeof args.serviceTypeCode !== 'string' || args.serviceTypeCode === '') throw new TypeError('addInstance needs a serviceTypeCode');
    const id = args.id ?? slug(args.name);
    if (this.instanceMap.has(id)) throw new Error(`instance ${id} was already added`);
    const inst = new ExecutorInstance(this, id, args);
    this.instanceMap.set(id, inst);
    inst.touchAll();
    if (this.liveClientId !== undefined) this.toReconcile.add(inst);
    return inst;
  }

  /** Resolves when the current connection's registration is done (at once if it is); rejects if the session closes first. */
  registered(): Promise<RegistrationInfo> {
    if (this.info) return Promise.resolve(this.info);
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
    this.registeredListeners.add(cb);
    return () => this.registeredListeners.delete(cb);
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
      if (this.liveClientId !== undefined) {
        this.flushDirty();
        const events: Built[] = [];
        for (const inst of this.instanceMap.values()) {
          for (const t of inst.allTargets()) events.push(['TargetStatus', { ...t.statusItem(), status: 'offline' }]);
          events.push(['Instance', { ...inst.item(), status: 'Unavailable' }]);
        }
        try {
          for (const [type, item] of events) this.client.set(type, item);
          await withTimeout(this.roundTrip(), this.opts.closeTimeoutMs);
        } catch {
          // the server marks them offline itself when the connection goes
        }
      }
      this.closedFlag = true;
      this.liveClientId = undefined;
      this.info = undefined;
      this.client.close();
    })();
    return this.closing;
  }

  // ---- internal, used by the model classes ----

  /** @internal Remember that an item changed; sent at the end of the microtask when connected. */
  _touch(itemType: string, id: string, build: () => Built | undefined): void {
    this.dirty.set(`${itemType}\u0000${id}`, build);
    if (this.liveClientId === undefined || this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushDirty());
  }

  /** @internal */
  _addAction(a: ExecutorAction): void {
    if (this.actionMap.has(a.id)) throw new Error(`action id ${a.id} is already used in this session`);
    this.actionMap.set(a.id, a);
  }

  /** @internal */
  _addEmitter(e: ExecutorEmitter): void {
    if (this.emitterMap.has(e.id)) throw new Error(`emitter id ${e.id} is already used in this session`);
    this.emitterMap.set(e.id, e);
  }

  /** @internal Send a pulse now when registered on a live connection; false when it was only kept. */
  _pulse(p: Pulse): boolean {
    if (this.liveClientId === undefined || this.closing) return false;
    this.flushDirty(); // an emitter added in this tick goes before its first pulse
    try {
      this.client.set<Pulse>('Pulse', p);
      return true;
    } catch (err) {
      this.emitError(err);
      return false;
    }
  }

  /** @internal */
  _assertOpen(): void {
    this.assertOpen();
  }

  // ---- connection lifecycle ----

  private assertOpen(): void {
    if (this.closing || this.closedFlag) throw new Error('the executor session is closed');
  }

  private onStatus(s: ConnectionStatus): void {
    if (s.type === 'connected') {
      if (s.clientId !== this.liveClientId && !this.closing) void this.register(s.clientId, s.url);
      return;
    }
    this.liveClientId = undefined;
    this.info = undefined;
    this.generation++;
  }

  /** Everything, in one batch, then reconcile; the same after every reconnect. */
  private async register(clientId: string, url: string): Promise<void> {
    const gen = ++this.generation;
    this.liveClientId = clientId;
    this.info = undefined;
    this.dirty.clear();
    this.toReconcile.clear();
    const items: Built[] = [];
    for (const inst of this.instanceMap.values()) items.push(...inst.buildAll());
    items.sort(byTypeOrder);
    try {
      for (const [type, item] of items) this.client.set(type, item);
      if (this.opts.resendPulses) for (const e of this.emitterMap.values()) e.resendQuietly();
      this.client.flush();
      const instances = [...this.instanceMap.values()];
      let staleOffline: string[] = [];
      if (this.opts.reconcile && instances.length > 0) staleOffline = (await Promise.all(instances.map((i) => this.reconcile(i, gen)))).flat();
      // Confirms the batch (no reconcile) or the offline statuses just sent: `registered` means the server has them.
      if (staleOffline.length > 0 || !this.opts.reconcile || instances.length === 0) await this.roundTrip();
      if (gen !== this.generation) return;
      this.info = { clientId, url, items: items.length, staleOffline };
    } catch (err) {
      if (gen === this.generation) this.emitError(new Error(`registration failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const cb of [...this.registeredListeners]) {
      try {
        cb(this.info);
      } catch (err) {
        this.emitError(err);
      }
    }
  }

  /** SET offline the statuses of `inst` that name targets this session does not have. */
  private async reconcile(inst: ExecutorInstance, gen: number): Promise<string[]> {
    const result = await this.client.watchQuery<TargetStatus>(byQuery<TargetStatus>('TargetStatus', { instanceId: inst.id })).first();
    if (gen !== this.generation) return [];
    const stale = result.values.filter((s) => s.status !== 'offline' && !inst.hasTarget(s.targetId));
    for (const s of stale) this.client.set<TargetStatus>('TargetStatus', { id: s.id, targetId: s.targetId, instanceId: s.instanceId, status: 'offline' });
    return stale.map((s) => s.id);
  }

  /** Resolves once the server has processed everything sent before it (events are committed before a later query is answered). */
  private async roundTrip(): Promise<void> {
    await this.client.watchQuery(byIds('Instance', [...this.instanceMap.keys()])).first();
  }

  private flushDirty(): void {
    this.flushScheduled = false;
    if (this.dirty.size === 0 && this.toReconcile.size === 0) return;
    if (this.liveClientId === undefined) {
      this.dirty.clear(); // the next registration sends everything
      return;
    }
    const items: Built[] = [];
    for (const build of this.dirty.values()) {
      const b = build();
      if (b) items.push(b);
    }
    this.dirty.clear();
    items.sort(byTypeOrder);
    try {
      for (const [type, item] of items) this.client.set(type, item);
    } catch (err) {
      this.emitError(err);
    }
    if (this.opts.reconcile && this.toReconcile.size > 0) {
      const gen = this.generation;
      const list = [...this.toReconcile];
      this.toReconcile.clear();
      for (const inst of list) this.reconcile(inst, gen).catch((err) => this.emitError(err));
    }
  }

  // ---- incoming commands ----

  private lookupAction(id: unknown, where: string): ExecutorAction {
    if (typeof id !== 'string') throw new ExecutorError('MYKO_BAD_COMMAND', `${where} needs an action id`);
    const a = this.actionMap.get(id);
    if (!a) throw new ExecutorError('RSHIP_UNKNOWN_ACTION', `${where}: this executor has no action ${id}`);
    return a;
  }

  private exec(p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown> {
    const stored = p.action as Action | undefined;
    const action = this.lookupAction(stored?.id ?? p.actionId, c.commandId);
    return action._run(p.data, this.context(action, c, stored, p.instanceId, action.target.id));
  }

  private context(action: ExecutorAction, c: IncomingCommandContext, stored: Action | undefined, instanceId: unknown, targetId: string): ActionContext {
    const target = action.target.instance.targetById(targetId) ?? action.target;
    return {
      session: this,
      instance: target.instance,
      target,
      action,
      stored,
      commandId: c.commandId,
      tx: c.tx,
      instanceId: typeof instanceId === 'string' ? instanceId : action.target.instance.id,
      targetId,
    };
  }

  /** `{actions: [{action, data}]}` → the handlers' results in order. Every entry runs; any failure fails the batch, naming each. */
  private async batch(p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown[]> {
    if (!Array.isArray(p.actions)) throw new ExecutorError('MYKO_BAD_COMMAND', 'BatchTargetAction needs actions: [{action, data}]');
    return runAll(
      p.actions.map((entry: Record<string, unknown>, i: number) => ({
        where: `actions[${i}]`,
        run: () => {
          const stored = entry?.action as Action | undefined;
          const action = this.lookupAction(stored?.id ?? entry?.actionId, `actions[${i}]`);
          return action._run(entry.data, this.context(action, c, stored, entry.instanceId, action.target.id));
        },
      })),
    );
  }

  /** `{groups: [{actionId, payloads, assignments: [{instanceId, targetId, payloadIndex}]}]}` → one result per assignment, in order. */
  private async compactBatch(p: Record<string, unknown>, c: IncomingCommandContext): Promise<unknown[]> {
    if (!Array.isArray(p.groups)) throw new ExecutorError('MYKO_BAD_COMMAND', 'CompactBatchTargetAction needs groups: [{actionId, payloads, assignments}]');
    const jobs: { where: string; run: () => unknown }[] = [];
    p.groups.forEach((g: Record<string, unknown>, gi: number) => {
      const assignments = Array.isArray(g?.assignments) ? (g.assignments as Record<string, unknown>[]) : [];
      const payloads = Array.isArray(g?.payloads) ? g.payloads : [];
      assignments.forEach((a, ai) => {
        const where = `groups[${gi}].assignments[${ai}]`;
        jobs.push({
          where,
          run: () => {
            const action = this.lookupAction(g.actionId, where);
            const index = a?.payloadIndex;
            if (typeof index !== 'number' || index < 0 || index >= payloads.length) throw new ExecutorError('MYKO_BAD_COMMAND', `${where}: payloadIndex out of range`);
            const targetId = typeof a.targetId === 'string' ? a.targetId : action.target.id;
            return action._run(payloads[index], this.context(action, c, undefined, a.instanceId, targetId));
          },
        });
      });
    });
    return runAll(jobs);
  }

  private resendEmitterValue(p: Record<string, unknown>): { emitterId: string; resent: boolean } {
    const id = p.emitterId;
    if (typeof id !== 'string') throw new ExecutorError('MYKO_BAD_COMMAND', 'ResendEmitterValue needs emitterId');
    const e = this.emitterMap.get(id);
    if (!e) throw new ExecutorError('RSHIP_UNKNOWN_EMITTER', `this executor has no emitter ${id}`);
    return { emitterId: id, resent: e.resend() };
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

async function runAll(jobs: { where: string; run: () => unknown }[]): Promise<unknown[]> {
  const results: unknown[] = [];
  const failures: string[] = [];
  for (const job of jobs) {
    try {
      results.push((await job.run()) ?? null);
    } catch (err) {
      results.push(null);
      failures.push(`${job.where}: ${(err as Error)?.message ?? String(err)}`);
    }
  }
  if (failures.length > 0) throw new ExecutorError('RSHIP_BATCH_FAILED', `${failures.length} of ${jobs.length} failed: ${failures.join('; ')}`);
  return results;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** One running copy of a service. */
export class ExecutorInstance {
  readonly name: string;
  readonly serviceId: string;
  readonly serviceTypeCode: string;
  readonly machineId: string | undefined;
  private state: { status: NonNullable<Instance['status']>; message: string | undefined } = { status: 'Available', message: undefined };
  private readonly targetMap = new Map<string, ExecutorTarget>();
  private readonly machine: Machine | undefined;
  private readonly service: Service;
  private readonly color: string | undefined;

  /** @internal */
  constructor(
    readonly session: ExecutorSession,
    readonly id: string,
    args: InstanceArgs,
  ) {
    this.name = args.name;
    this.serviceId = args.serviceId;
    this.serviceTypeCode = args.serviceTypeCode;
    this.color = args.color;
    this.service = { id: args.serviceId, name: args.serviceName ?? args.serviceId, systemTypeCode: args.serviceTypeCode };
    if (args.machine) {
      const { id, ...rest } = args.machine;
      this.machine = { ...rest, id: id ?? slug(args.machine.name) };
    }
    this.machineId = this.machine?.id;
  }

  get status(): NonNullable<Instance['status']> {
    return this.state.status;
  }

  /** Top-level targets and sub-targets alike, by id. */
  get targets(): ReadonlyMap<string, ExecutorTarget> {
    return this.targetMap;
  }

  /** Add a top-level target. */
  addTarget(args: TargetArgs): ExecutorTarget {
    return this.createTarget(args, undefined);
  }

  /** Instance status as the UI shows it ('Available' from registration on). */
  setStatus(status: NonNullable<Instance['status']>, message?: string): void {
    this.session._assertOpen();
    this.state = { status, message };
    this.session._touch('Instance', this.id, () => ['Instance', this.item()]);
  }

  hasTarget(id: string): boolean {
    return this.targetMap.has(id);
  }

  targetById(id: string): ExecutorTarget | undefined {
    return this.targetMap.get(id);
  }

  /** @internal */
  allTargets(): IterableIterator<ExecutorTarget> {
    return this.targetMap.values();
  }

  /** @internal */
  createTarget(args: TargetArgs, parent: ExecutorTarget | undefined): ExecutorTarget {
    this.session._assertOpen();
    if (typeof args?.name !== 'string' || args.name === '') throw new TypeError('addTarget needs a name');
    if (typeof args.bgColor !== 'string' || typeof args.fgColor !== 'string') throw new TypeError('addTarget needs bgColor and fgColor');
    const id = childId(parent ? parent.id : this.id, args.name, args.id);
    if (this.targetMap.has(id)) throw new Error(`target ${id} was already added to instance ${this.id}`);
    const t = new ExecutorTarget(this, id, args, parent);
    this.targetMap.set(id, t);
    parent?._addChild(t);
    t.touch();
    t.touchStatus();
    return t;
  }

  /** @internal */
  item(): Instance {
    const i: Instance = { id: this.id, name: this.name, serviceId: this.serviceId, serviceTypeCode: this.serviceTypeCode, status: this.state.status };
    if (this.color !== undefined) i.color = this.color;
    if (this.machineId !== undefined) i.machineId = this.machineId;
    if (this.state.message !== undefined) i.message = this.state.message;
    return i;
  }

  /** @internal Every item this instance registers. */
  buildAll(): Built[] {
    const out: Built[] = [];
    if (this.machine) out.push(['Machine', this.machine]);
    out.push(['Service', this.service], ['Instance', this.item()]);
    for (const t of this.targetMap.values()) out.push(...t.buildAll());
    return out;
  }

  /** @internal */
  touchAll(): void {
    for (const [type, item] of this.buildAll()) this.session._touch(type, item.id, () => [type, type === 'Instance' ? this.item() : item]);
  }
}

/** A unit of control: actions change it, emitters report it. */
export class ExecutorTarget {
  readonly parent: ExecutorTarget | undefined;
  private def: TargetArgs;
  private lastUpdated = new Date().toISOString();
  private current: TargetStatus['status'] = 'online';
  private readonly actionMap = new Map<string, ExecutorAction>();
  private readonly emitterMap = new Map<string, ExecutorEmitter>();
  private readonly children: ExecutorTarget[] = [];

  /** @internal */
  constructor(
    readonly instance: ExecutorInstance,
    readonly id: string,
    args: TargetArgs,
    parent: ExecutorTarget | undefined,
  ) {
    this.def = { ...args, tags: args.tags ? [...args.tags] : undefined };
    this.parent = parent;
  }

  get session(): ExecutorSession {
    return this.instance.session;
  }

  get name(): string {
    return this.def.name;
  }

  get status(): TargetStatus['status'] {
    return this.current;
  }

  get actions(): ReadonlyMap<string, ExecutorAction> {
    return this.actionMap;
  }

  get emitters(): ReadonlyMap<string, ExecutorEmitter> {
    return this.emitterMap;
  }

  get subTargets(): readonly ExecutorTarget[] {
    return this.children;
  }

  /** A sub-target: listed in this target's `subTargets`, with this one in its `parentTargets`. */
  addTarget(args: TargetArgs): ExecutorTarget {
    return this.instance.createTarget(args, this);
  }

  /**
   * An action controllers can invoke. `schema` is a JSON Schema (the server
   * rejects payloads that do not match, before they reach you), or a typed
   * schema with `toJSONSchema()`/`jsonSchema` (and optionally `parse`).
   * The handler's return value is the controller's response; a throw its error.
   */
  addAction<S extends SchemaLike, R = unknown, D = unknown>(name: string | ActionArgs<S>, schema: S, handler: ActionHandler<InferData<S, D>, R>): ExecutorAction;
  addAction<R = unknown, D = unknown>(name: string | ActionArgs, handler: ActionHandler<D, R>): ExecutorAction;
  addAction(name: string | ActionArgs, schemaOrHandler: unknown, maybeHandler?: unknown): ExecutorAction {
    this.session._assertOpen();
    const args: ActionArgs = typeof name === 'string' ? { name } : { ...name };
    let handler = maybeHandler;
    if (typeof schemaOrHandler === 'function' && maybeHandler === undefined) handler = schemaOrHandler;
    else args.schema = schemaOrHandler as SchemaLike;
    if (typeof args.name !== 'string' || args.name === '') throw new TypeError('addAction needs a name');
    if (typeof handler !== 'function') throw new TypeError(`action ${args.name} needs a handler function`);
    const id = childId(this.id, args.name, args.id);
    const schema = resolveSchema(args.schema, `action ${id}`);
    const a = new ExecutorAction(this, id, args.name, schema.json, schema.parse, handler as ActionHandler);
    this.session._addAction(a);
    this.actionMap.set(id, a);
    this.session._touch('Action', id, () => ['Action', a.item()]);
    this.touch();
    return a;
  }

  /** A source of pulses (state changes, meter values, triggers). */
  addEmitter(name: string | EmitterArgs, schema?: SchemaLike): ExecutorEmitter {
    this.session._assertOpen();
    const args: EmitterArgs = typeof name === 'string' ? { name } : { ...name };
    if (schema !== undefined) args.schema = schema;
    if (typeof args.name !== 'string' || args.name === '') throw new TypeError('addEmitter needs a name');
    const id = childId(this.id, args.name, args.id);
    const e = new ExecutorEmitter(this, id, args.name, resolveSchema(args.schema, `emitter ${id}`).json);
    this.session._addEmitter(e);
    this.emitterMap.set(id, e);
    this.session._touch('Emitter', id, () => ['Emitter', e.item()]);
    this.touch();
    return e;
  }

  setOnline(): void {
    this.setStatus('online');
  }

  setOffline(): void {
    this.setStatus('offline');
  }

  setStatus(status: TargetStatus['status']): void {
    if (status !== 'online' && status !== 'offline') throw new TypeError(`a target status is 'online' or 'offline', got ${String(status)}`);
    this.session._assertOpen();
    if (status === this.current) return;
    this.current = status;
    this.touchStatus();
  }

  /** Change the name, colours, category, rootLevel or tags; the id stays. */
  update(patch: Partial<Omit<TargetArgs, 'id'>>): void {
    this.session._assertOpen();
    const { id: _ignored, ...rest } = patch as TargetArgs;
    this.def = { ...this.def, ...rest, tags: rest.tags ? [...rest.tags] : this.def.tags };
    this.lastUpdated = new Date().toISOString();
    this.touch();
  }

  /** @internal */
  _addChild(t: ExecutorTarget): void {
    this.children.push(t);
    this.lastUpdated = new Date().toISOString();
    this.touch();
  }

  /** @internal */
  touch(): void {
    this.session._touch('Target', this.id, () => ['Target', this.item()]);
  }

  /** @internal */
  touchStatus(): void {
    const st = this.statusItem();
    this.session._touch('TargetStatus', st.id, () => ['TargetStatus', this.statusItem()]);
  }

  /** @internal */
  item(): Target {
    const d = this.def;
    const t: Target = {
      id: this.id,
      name: d.name,
      serviceId: this.instance.serviceId,
      actionIds: [...this.actionMap.keys()],
      emitterIds: [...this.emitterMap.keys()],
      subTargets: this.children.map((c) => c.id),
      parentTargets: this.parent ? [this.parent.id] : [],
      bgColor: d.bgColor,
      fgColor: d.fgColor,
      lastUpdated: this.lastUpdated,
      rootLevel: d.rootLevel ?? this.parent === undefined,
    };
    if (d.category !== undefined) t.category = d.category;
    if (d.tags !== undefined) t.tags = d.tags;
    return t;
  }

  /** @internal */
  statusItem(): TargetStatus {
    return { id: targetStatusId(this.instance.id, this.id), targetId: this.id, instanceId: this.instance.id, status: this.current };
  }

  /** @internal */
  buildAll(): Built[] {
    const out: Built[] = [];
    for (const a of this.actionMap.values()) out.push(['Action', a.item()]);
    for (const e of this.emitterMap.values()) out.push(['Emitter', e.item()]);
    out.push(['Target', this.item()], ['TargetStatus', this.statusItem()]);
    return out;
  }
}

export class ExecutorAction {
  /** @internal */
  constructor(
    readonly target: ExecutorTarget,
    readonly id: string,
    readonly name: string,
    /** The JSON Schema published on the Action (null: any payload). */
    readonly schema: object | string | null,
    private readonly parse: ((data: unknown) => unknown) | undefined,
    private readonly handler: ActionHandler,
  ) {}

  /** @internal */
  item(): Action {
    return { id: this.id, name: this.name, schema: this.schema, targetId: this.target.id, serviceId: this.target.instance.serviceId };
  }

  /** @internal Parse (typed schemas), then the handler. */
  async _run(data: unknown, ctx: ActionContext): Promise<unknown> {
    let input = data;
    if (this.parse) {
      try {
        input = this.parse(data);
      } catch (err) {
        throw new ExecutorError('RSHIP_BAD_PAYLOAD', `payload rejected by action ${this.id} (${this.name}): ${(err as Error)?.message ?? String(err)}`);
      }
    }
    return this.handler(input, ctx);
  }
}

export class ExecutorEmitter {
  private lastPulse: { data: unknown; timestamp: number } | undefined;

  /** @internal */
  constructor(
    readonly target: ExecutorTarget,
    readonly id: string,
    readonly name: string,
    readonly schema: object | string | null,
  ) {}

  /** The last value pulsed (kept while disconnected, re-sent after a reconnect and on ResendEmitterValue). */
  get last(): { data: unknown; timestamp: number } | undefined {
    return this.lastPulse;
  }

  /**
   * Publish a value: `SET Pulse {id: emitterId, emitterId, data, timestamp}`,
   * sent at once (not batched). While disconnected it is only kept as the
   * last value; after `close()` it is dropped. Returns whether it went out now.
   */
  pulse(data: unknown, timestamp: number = Date.now()): boolean {
    this.lastPulse = { data, timestamp };
    return this.target.session._pulse(this.pulseItem());
  }

  /**
   * Send the last value again, stamped now (a pulse identical to the stored
   * one would change nothing for watchers). False when there is none or it
   * could not go out now. Answers ResendEmitterValue.
   */
  resend(): boolean {
    if (!this.lastPulse) return false;
    this.lastPulse = { data: this.lastPulse.data, timestamp: Date.now() };
    return this.target.session._pulse(this.pulseItem());
  }

  /** @internal After a reconnect: the last value with its own timestamp. */
  resendQuietly(): void {
    if (this.lastPulse) this.target.session._pulse(this.pulseItem());
  }

  /** @internal */
  item(): Emitter {
    return { id: this.id, name: this.name, targetId: this.target.id, serviceId: this.target.instance.serviceId, schema: this.schema };
  }

  private pulseItem(): Pulse {
    return { id: this.id, emitterId: this.id, data: this.lastPulse?.data ?? null, timestamp: this.lastPulse?.timestamp ?? Date.now() };
  }
}
