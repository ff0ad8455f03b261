import type { Target, TargetStatus } from '../entities.js';
import { targetStatusId } from '../entities.js';
import { childId } from './ids.js';
import { resolveSchema, type InferData, type SchemaLike } from './schema.js';
import type { ExecutorSession } from './session.js';
import type { ExecutorInstance } from './instance.js';
import { ExecutorAction } from './dispatch.js';
import { ExecutorEmitter } from './pulses.js';
import type { ActionArgs, ActionHandler, Built, EmitterArgs, TargetArgs } from './types.js';

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
