/**
 * Rocketship entities (seed 001, WIRE.md 2): TypeScript types and the JSON
 * Schemas the server validates them with. Required fields are checked;
 * unknown extra fields are kept; ids are opaque strings. Browser-safe.
 */

export type ID = string;

export interface Instance {
  id: ID;
  hash?: string;
  name: string;
  serviceId: ID;
  serviceTypeCode: string;
  clientId?: ID;
  color?: string;
  machineId?: ID;
  status?: 'Starting' | 'Available' | 'Stopping' | 'Unavailable' | 'Error';
  message?: string;
  clusterId?: ID;
  [extra: string]: unknown;
}

export interface Target {
  id: ID;
  hash?: string;
  name: string;
  serviceId: ID;
  /** Defaulted by the server from the Actions whose `targetId` names it when the executor leaves it out. */
  actionIds: ID[];
  /** As `actionIds`, from the Emitters. */
  emitterIds: ID[];
  subTargets?: ID[] | null;
  parentTargets?: ID[] | null;
  /** Defaulted to `defaultTargetColors`. */
  bgColor: string;
  fgColor: string;
  lastUpdated?: string;
  category?: string | null;
  /** Defaulted: true when the target has no parentTargets. */
  rootLevel?: boolean;
  tags?: string[] | null;
  [extra: string]: unknown;
}

export interface TargetStatus {
  /** Optional on the wire; `${instanceId}:${targetId}` when absent. */
  id: ID;
  hash?: string;
  targetId: ID;
  instanceId: ID;
  status: 'online' | 'offline';
  /** Filled by the server with the connection that set it, so it goes offline when that connection does. */
  clientId?: ID;
  [extra: string]: unknown;
}

export interface Action {
  id: ID;
  hash?: string;
  name: string;
  /** A JSON Schema of the action's payload: an object, a string holding one, or null (any payload). */
  schema: object | string | null;
  targetId: ID;
  serviceId: ID;
  [extra: string]: unknown;
}

export interface Emitter {
  id: ID;
  hash?: string;
  name: string;
  targetId: ID;
  serviceId: ID;
  schema?: object | string | null;
  [extra: string]: unknown;
}

export interface Pulse {
  /** The emitter's id (filled from `emitterId` when absent). */
  id: ID;
  hash?: string;
  emitterId: ID;
  data: unknown;
  /** The TouchDesigner executor sends `null`. */
  clientId?: ID | null;
  timestamp?: string | number;
  [extra: string]: unknown;
}

export interface Machine {
  id: ID;
  name: string;
  execName?: string;
  dnsName?: string;
  addresses?: string[];
  [extra: string]: unknown;
}

export interface Service {
  id: ID;
  name: string;
  systemTypeCode?: string;
  [extra: string]: unknown;
}

export interface RshipItems {
  Instance: Instance;
  Target: Target;
  TargetStatus: TargetStatus;
  Action: Action;
  Emitter: Emitter;
  Pulse: Pulse;
  Machine: Machine;
  Service: Service;
}

const str = { type: 'string' } as const;
const strs = { type: 'array', items: { type: 'string' } } as const;
const schemaField = { type: ['object', 'string', 'null'] } as const;
/** An optional field: `null` means absent (WIRE.md 6.1: executors send unset fields as null). */
const orNull = (s: { type: string | readonly string[] } & Record<string, unknown>) => ({ ...s, type: [...[s.type].flat(), 'null'] });

const object = (required: string[], properties: Record<string, object>) => ({
  type: 'object',
  required: ['id', ...required],
  properties: { id: { type: 'string', minLength: 1 }, hash: orNull(str), ...properties },
  additionalProperties: true,
});

/**
 * Colours of a Target whose executor sends none (the TouchDesigner executor
 * sends no `bgColor`/`fgColor`): neutral dark grey with white text.
 */
export const defaultTargetColors = { bgColor: '#3c3c3c', fgColor: '#ffffff' } as const;

/**
 * JSON Schemas per entity. What real executors leave out is not required
 * (WIRE.md 6.1): a Target needs only `id`, `name`, `serviceId`; its
 * `actionIds`, `emitterIds`, colours and `rootLevel` are defaulted by the
 * server (server/plugin.ts). Present fields must have the right type; an
 * optional field may be `null`.
 */
export const rshipSchemas: Record<keyof RshipItems, object> = {
  Instance: object(['name', 'serviceId', 'serviceTypeCode'], {
    name: str,
    serviceId: str,
    serviceTypeCode: str,
    clientId: orNull(str),
    status: { enum: ['Starting', 'Available', 'Stopping', 'Unavailable', 'Error', null] },
  }),
  Target: object(['name', 'serviceId'], {
    name: str,
    serviceId: str,
    actionIds: strs,
    emitterIds: strs,
    subTargets: orNull(strs),
    parentTargets: orNull(strs),
    bgColor: str,
    fgColor: str,
    category: orNull(str),
    rootLevel: { type: 'boolean' },
    tags: orNull(strs),
  }),
  TargetStatus: object(['targetId', 'instanceId', 'status'], {
    targetId: str,
    instanceId: str,
    status: { enum: ['online', 'offline'] },
  }),
  Action: object(['name', 'targetId', 'serviceId'], { name: str, schema: schemaField, targetId: str, serviceId: str }),
  Emitter: object(['name', 'targetId', 'serviceId'], { name: str, targetId: str, serviceId: str, schema: schemaField }),
  Pulse: object(['emitterId'], { emitterId: str, clientId: orNull(str) }),
  Machine: object(['name'], { name: str, addresses: orNull(strs) }),
  Service: object(['name'], { name: str }),
};

/** TargetStatus ids when the executor leaves them out (WIRE.md 2). */
export const targetStatusId = (instanceId: string, targetId: string) => `${instanceId}:${targetId}`;

/** Command names of WIRE.md 2. */
export const RshipCommand = {
  ExecTargetAction: 'ExecTargetAction',
  /** What 2023 executors listen for instead of ExecTargetAction. */
  LegacyExecTargetAction: 'target:action:exec',
  BatchTargetAction: 'BatchTargetAction',
  CompactBatchTargetAction: 'CompactBatchTargetAction',
  ResendEmitterValue: 'ResendEmitterValue',
} as const;
