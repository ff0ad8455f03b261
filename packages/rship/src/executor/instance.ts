import type { Instance, Machine, Service } from '../entities.js';
import { childId, slug } from './ids.js';
import type { ExecutorSession } from './session.js';
import { ExecutorTarget } from './target.js';
import type { Built, InstanceArgs, TargetArgs } from './types.js';

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
