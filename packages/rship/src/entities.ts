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
  actionIds: ID[];
  emitterIds: ID[];
  subTargets?: ID[];
  parentTargets?: ID[];
  bgColor: string;
  fgColor: string;
  lastUpdated?: string;
  category?: string;
  rootLevel?: boolean;
  tags?: string[];
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
  clientId?: ID;
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

const object = (required: string[], properties: Record<string, object>) => ({
  type: 'object',
  required: ['id', ...required],
  properties: { id: { type: 'string', minLength: 1 }, hash: str, ...properties },
  additionalProperties: true,
});

/** JSON Schemas per entity. `category` and `rootLevel` are optional: the seed's own example omits them. */
export const rshipSchemas: Record<keyof RshipItems, object> = {
  Instance: object(['name', 'serviceId', 'serviceTypeCode'], {
    name: str,
    serviceId: str,
    serviceTypeCode: str,
    clientId: str,
    status: { enum: ['Starting', 'Available', 'Stopping', 'Unavailable', 'Error'] },
  }),
  Target: object(['name', 'serviceId', 'actionIds', 'emitterIds', 'bgColor', 'fgColor'], {
    name: str,
    serviceId: str,
    actionIds: strs,
    emitterIds: strs,
    subTargets: strs,
    parentTargets: strs,
    bgColor: str,
    fgColor: str,
    category: str,
    rootLevel: { type: 'boolean' },
    tags: strs,
  }),
  TargetStatus: object(['targetId', 'instanceId', 'status'], {
    targetId: str,
    instanceId: str,
    status: { enum: ['online', 'offline'] },
  }),
  Action: object(['name', 'targetId', 'serviceId'], { name: str, schema: schemaField, targetId: str, serviceId: str }),
  Emitter: object(['name', 'targetId', 'serviceId'], { name: str, targetId: str, serviceId: str, schema: schemaField }),
  Pulse: object(['emitterId'], { emitterId: str }),
  Machine: object(['name'], { name: str, addresses: strs }),
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
