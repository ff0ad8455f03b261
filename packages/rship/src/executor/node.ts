/**
 * `@myko/rship/node`: the executor SDK with Node's WebSocket transport
 * (the `ws` package, through `@myko/client/node`) filled in.
 *
 *   import { connect } from '@myko/rship/node';
 *   const session = connect({ url: 'ws://127.0.0.1:5155/myko' });
 */
import { nodeTransport } from '@myko/client/node';
import { connect as connectWith, type ExecutorOptions, type ExecutorSession } from './session.js';

export { nodeTransport };

/** `connect` with `transport: nodeTransport` unless another transport is given. */
export function connect(options: ExecutorOptions): ExecutorSession {
  return connectWith({ transport: nodeTransport, ...options });
}

export {
  ExecutorSession,
  ExecutorInstance,
  ExecutorTarget,
  ExecutorAction,
  ExecutorEmitter,
  ExecutorError,
  type ExecutorOptions,
  type InstanceArgs,
  type MachineArgs,
  type TargetArgs,
  type ActionArgs,
  type EmitterArgs,
  type ActionContext,
  type ActionHandler,
  type RegistrationInfo,
} from './session.js';
export { slug } from './ids.js';
export type { JsonSchema, TypedSchema, SchemaLike, InferData } from './schema.js';
export * from '../entities.js';
