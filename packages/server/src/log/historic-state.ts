import type { Backrefs } from '../core/backrefs.js';
import { State } from '../core/state.js';
import type { EventStore } from '../store/event-store.js';

/** Where in history: a log position, or a time (events whose createdAt ≤ time, in log order). */
export type AsOf = { position: number } | { time: string };

export function parseAsOf(v: unknown): AsOf {
  const o = v as { position?: unknown; time?: unknown } | null;
  if (o && typeof o === 'object') {
    if (typeof o.position === 'number' && Number.isInteger(o.position) && o.position >= 0) return { position: o.position };
    if (typeof o.time === 'string' && !Number.isNaN(Date.parse(o.time))) return { time: o.time };
  }
  throw new Error('asOf must be {"position": integer >= 0} or {"time": ISO 8601}');
}

/**
 * State as it was, rebuilt from the log (read-only; never touches live
 * state). Reads only the given item types when known. O(events up to that
 * point): fine for audits and restores, not for every frame.
 */
export async function historicState(store: EventStore, asOf: AsOf, itemTypes?: readonly string[], backrefs?: Backrefs): Promise<State> {
  const state = new State();
  if (backrefs && !backrefs.empty) {
    // Reverse-reference fields as live state keeps them (core/backrefs.ts): their source types are read too.
    state.backrefs = backrefs;
    if (itemTypes) itemTypes = [...new Set(itemTypes.flatMap((t) => [t, ...(backrefs.onTarget.get(t) ?? []).map((r) => r.from)]))];
  }
  const upTo = 'position' in asOf ? asOf.position : undefined;
  const until = 'time' in asOf ? Date.parse(asOf.time) : undefined;
  const types = itemTypes ?? [undefined];
  for (const itemType of types) {
    let after = 0;
    for (;;) {
      const events = await store.readAfter(after, 10_000, { ...(upTo !== undefined ? { upTo } : {}), ...(itemType ? { itemType } : {}) });
      for (const e of events) if (until === undefined || Date.parse(e.createdAt) <= until) state.apply(e);
      if (events.length < 10_000) break;
      after = events[events.length - 1]!.position;
    }
  }
  state.refreshBackrefs();
  return state;
}
