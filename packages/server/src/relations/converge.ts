import type { MItem } from '@myko/protocol';
import type { EventInput } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import type { RelationGraph } from './graph.js';
import { refKey } from './subtree.js';

/**
 * Order the events of a converging commit (a subtree restore, an undo) so
 * relationships add nothing to it: SETs of ensured items first (a dependency
 * SET after them finds its combination present and creates no default), then
 * the other SETs, then the DELs, leaving out a DEL whose parent is deleted in
 * the same commit (the cascade deletes it). Every event carries `tx`.
 */
export function convergeEvents(
  graph: RelationGraph,
  state: StateReader,
  sets: readonly { itemType: string; item: MItem }[],
  dels: readonly { itemType: string; id: string }[],
  tx: string,
): EventInput[] {
  const ensured = new Set(graph.ensureSpecs.map((s) => s.itemType));
  const deleting = new Set(dels.map((d) => refKey(d.itemType, d.id)));
  const parentGoes = (itemType: string, id: string) => {
    const item = state.get(itemType, id);
    return item !== undefined && graph.parents(itemType).some((e) => typeof item[e.field] === 'string' && deleting.has(refKey(e.parentType, item[e.field] as string)));
  };
  const setEvent = (s: { itemType: string; item: MItem }): EventInput => ({ itemType: s.itemType, changeType: 'SET', item: s.item, tx });
  return [
    ...sets.filter((s) => ensured.has(s.itemType)).map(setEvent),
    ...sets.filter((s) => !ensured.has(s.itemType)).map(setEvent),
    ...dels.filter((d) => !parentGoes(d.itemType, d.id)).map((d): EventInput => ({ itemType: d.itemType, changeType: 'DEL', item: { id: d.id }, tx })),
  ];
}
