import type { Dialect } from '@myko/protocol';
import type { TextFrame } from '../wire/ws-frame.js';

/**
 * What live queries and reports need of a connection: a narrow interface, so
 * they can be exercised without a socket and the gateway owns all I/O.
 */
export interface Subscriber {
  readonly clientId: string;
  readonly dialect: Dialect;
  /** True while the socket's outgoing buffer is above the high-water mark: hold diffs back. */
  congested(): boolean;
  /**
   * Send one frame. Both forms are lazy: a JSON connection calls `json` when
   * given (text assembled from pre-encoded parts; a Buffer is that text as
   * UTF-8 and goes out as a text frame; a TextFrame is that with its
   * WebSocket header in front, wire/ws-frame.ts), a CBOR one calls `frame`.
   */
  send(frame: () => object, json?: () => string | Buffer | TextFrame): void;
  /** Call `cb` once when the outgoing buffer drains below the high-water mark. */
  onDrain(cb: () => void): void;
}
