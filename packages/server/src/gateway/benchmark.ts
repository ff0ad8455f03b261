import type { ServerContext } from '../context.js';

/**
 * `ws:m:benchmark` (WIRE.md 6.5): the reference client's load-test frames.
 * Any data; counted per server for /metrics (ops/metrics.ts) and never
 * answered. Kept beside the context rather than on it: only the Myko
 * endpoint writes it and only the metrics read it.
 */
const counts = new WeakMap<ServerContext, { frames: number; bytes: number }>();

export function countBenchmark(ctx: ServerContext, bytes: number): void {
  const c = counts.get(ctx);
  if (c) {
    c.frames++;
    c.bytes += bytes;
  } else counts.set(ctx, { frames: 1, bytes });
}

export function benchmarkCounts(ctx: ServerContext): { frames: number; bytes: number } {
  return counts.get(ctx) ?? { frames: 0, bytes: 0 };
}
