import type { MItem } from '@myko/protocol';
// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { ServerContext } from '../context.js';
import type { EventInput } from '../core/registry.js';
import { historicState } from './historic-state.js';
import { subtree } from '../relations/subtree.js';
import { convergeEvents } from '../relations/converge.js';
import { RelationGraph } from '../relations/graph.js';

/** Types a restore never writes: live-connection truth and framework items (as the whole-store restore). */
export function unrestorableTypes(c: ServerContext, restorePointType: string): Set<string> {
  return new Set([restorePointType, 'Client', 'Server', ...c.registry.ownedItemTypes().map((t) => t.def.name)]);
}

/**
 * The events that converge the subtree under (rootType, rootId) to its state
 * at log `position` (WIRE.md 6.5): every item that was in the subtree then is
 * SET back to its value then (changed ones revert, deleted ones return with
 * their ids), and every item in the subtree now that was not then is deleted.
 * The subtree "then" is rebuilt from the log (log/historic-state.ts), over the
 * item types the relationships can reach from the root; it includes items
 * that have since left it (a changed foreign key) and they move back.
 */
export async function subtreeRestoreEvents(
  c: ServerContext,
  at: { position: number; rootType: string; rootId: string },
  skip: ReadonlySet<string>,
  tx: string,
): Promise<EventInput[]> {
  const graph = c.writer.relations?.graph ?? new RelationGraph(c.registry);
  const types = graph.reachableTypes(at.rootType);
  const then = await historicState(c.store, { position: at.position }, types);
  const before = subtree(graph, then, at.rootType, at.rootId);
  const now = subtree(graph, c.state, at.rootType, at.rootId);
  const writable = (t: string) => !skip.has(t) && c.registry.isPersistent(t);
  const sets: { itemType: string; item: MItem }[] = [];
  const dels: { itemType: string; id: string }[] = [];
  for (const ref of before.values()) {
    if (!writable(ref.itemType)) continue;
    const item = then.get(ref.itemType, ref.id)!;
    if (!equal(c.state.get(ref.itemType, ref.id), item)) sets.push({ itemType: ref.itemType, item });
  }
  for (const [k, ref] of now) if (!before.has(k) && writable(ref.itemType)) dels.push(ref);
  return convergeEvents(graph, c.state, sets, dels, tx);
}
