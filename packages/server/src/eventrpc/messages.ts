import { ajv, describeAjvErrors } from '../wire/ajv.js';

/**
 * EventRPC messages (seed 004, WIRE.md 4), each schema beside its type.
 * Every message is one envelope; `payload` depends on `type`.
 *
 * Client → server: `subscribe`, `command`, and (ours, the spec leaves it
 * open) `unsubscribe`. Server → client: `update`, `result`.
 */

/** The EventRPC specification version this server speaks, sent in every reply. */
export const eventRpcVersion = 'v0.0.1';
/** `app-name` of every reply. */
export const serverAppName = 'myko';

export const EnvelopeSchema = {
  type: 'object',
  required: ['version', 'app-name', 'app-id', 'timestamp', 'correlation-id', 'type', 'payload'],
  properties: {
    version: { type: 'string', minLength: 1 },
    'app-name': { type: 'string' },
    'app-id': { type: 'string' },
    timestamp: { type: 'number', minimum: 0 },
    'correlation-id': { type: 'string', minLength: 1 },
    type: { type: 'string', minLength: 1 },
    meta: { type: 'object' },
    payload: { type: 'object' },
  },
} as const;
export interface Envelope<T extends string = string, P = Record<string, unknown>> {
  version: string;
  'app-name': string;
  'app-id': string;
  /** Unix epoch seconds. */
  timestamp: number;
  /** Set by the client; every reply (and every update of a subscription) echoes it. Null only when the request's could not be read. */
  'correlation-id': string | null;
  type: T;
  meta?: Record<string, unknown>;
  payload: P;
}

export const entityKinds = ['aggregate', 'projection', 'event'] as const;
export type EntityKind = (typeof entityKinds)[number];

export const SubscribePayloadSchema = {
  type: 'object',
  required: ['to', 'id'],
  properties: {
    to: { type: 'string', enum: entityKinds },
    id: { type: 'string', minLength: 1 },
    'event-name': { type: 'string', enum: ['SET', 'DEL'] },
    /** Ours: the params of a projection (Myko query or report). */
    params: { type: 'object' },
  },
} as const;
export interface SubscribePayload {
  to: EntityKind;
  id: string;
  'event-name'?: 'SET' | 'DEL';
  params?: Record<string, unknown>;
}

/** Ours: ends the subscription opened with `correlation-id` (default: this envelope's). */
export const UnsubscribePayloadSchema = {
  type: 'object',
  properties: { 'correlation-id': { type: 'string', minLength: 1 } },
} as const;
export interface UnsubscribePayload {
  'correlation-id'?: string;
}

export const CommandPayloadSchema = {
  type: 'object',
  required: ['id', 'type', 'data'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string', minLength: 1 },
    data: { type: 'object' },
  },
} as const;
export interface CommandPayload {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export interface UpdatePayload {
  /** Unix seconds: of the event for event updates, of sending for state updates. */
  timestamp: number;
  version: number;
  id: string;
  name: string;
  data: unknown;
}

export type ResultStatus = 'ok' | 'failed' | 'rejected';
export interface ResultPayload {
  status: ResultStatus;
  errors?: string[];
  /** Ours: the stable code of a failure (docs/ERRORS.md, docs/PROTOCOLS.md). */
  code?: string;
  /** Ours: the command's response, when it has one. */
  data?: unknown;
}

const compiled = {
  envelope: ajv.compile(EnvelopeSchema),
  subscribe: ajv.compile(SubscribePayloadSchema),
  unsubscribe: ajv.compile(UnsubscribePayloadSchema),
  command: ajv.compile(CommandPayloadSchema),
};

type Shapes = { envelope: Envelope; subscribe: SubscribePayload; unsubscribe: UnsubscribePayload; command: CommandPayload };
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

export function check<K extends keyof Shapes>(kind: K, value: unknown): Checked<Shapes[K]> {
  const fn = compiled[kind];
  return fn(value) ? { ok: true, value: value as Shapes[K] } : { ok: false, message: describeAjvErrors(fn.errors, kind === 'envelope' ? 'message' : 'payload') };
}

export const unixSeconds = (ms: number = Date.now()): number => Math.floor(ms / 1000);
