/**
 * The Rocketship executor SDK (browser-safe: it imports only @myko/client).
 * In Node, pass `transport: nodeTransport` from `@myko/client/node`, or
 * import `connect` from `@myko/rship/node`, which does it for you.
 */
export {
  connect,
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
