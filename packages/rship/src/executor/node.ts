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

// Everything the browser-safe entry exports; the local `connect` above takes precedence over its `connect`.
export * from './index.js';
export * from '../entities.js';
