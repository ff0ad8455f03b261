import type { Kind } from './kinds.js';

/** Every Myko frame: `{event, data}`; seed-dialect responses add a top-level `tx`. */
export interface Frame<D = unknown> {
  event: Kind | string;
  data: D;
  tx?: string;
}

/**
 * The two dialects of WIRE.md 1.1. `seed`: clients that echo `clientId` and get
 * whole results; `current`: clients that get a snapshot and then diffs.
 */
export type Dialect = 'seed' | 'current';
