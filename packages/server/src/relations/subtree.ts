import type { StateReader } from '../core/state.js';
import type { RelationGraph } from './graph.js';

export interface ItemRef {
  itemType: string;
  id: string;
}

/**
 * The items under (rootType, rootId) in `state`, the root included when
 * present: everything that hangs off it through declared relationships,
 * transitively (cycles visited once). Keyed by `itemType\0id`.
 */
export function subtree(graph: RelationGraph, state: StateReader, rootType: string, rootId: string): Map<string, ItemRef> {
  const out = new Map<string, ItemRef>();
  const todo: ItemRef[] = [{ itemType: rootType, id: rootId }];
  if (state.get(rootType, rootId)) out.set(refKey(rootType, rootId), todo[0]!);
  while (todo.length > 0) {
    const parent = todo.pop()!;
    for (const edge of graph.children(parent.itemType)) {
      for (const id of state.lookup(edge.childType, edge.field, parent.id)) {
        const k = refKey(edge.childType, id);
        if (out.has(k)) continue;
        const ref = { itemType: edge.childType, id };
        out.set(k, ref);
        todo.push(ref);
      }
    }
  }
  return out;
}

export const refKey = (itemType: string, id: string) => `${itemType}\u0000${id}`;
