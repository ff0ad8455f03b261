import type { EventInput } from '../core/registry.js';
import type { ServerContext } from '../context.js';
import { ensuredId } from './ensured-id.js';
import type { Relations } from './expand.js';

/**
 * Startup repair, before the first client is served: children whose parent
 * is gone are deleted (their own children go with them, by the writer's
 * cascade) and missing `ensureFor` combinations are created, as ordinary
 * logged events in one commit.
 *
 * An empty (null, '', absent) foreign key is not an orphan: the relation is
 * optional for that item. Items written before their parent are orphans only
 * if the parent still has not come by the next start.
 *
 * Idempotent, so every cluster member runs it at its start without
 * coordination: it is computed from state caught up with the shared log,
 * ensured items have deterministic ids (a second member's SET of the same
 * item is equal, so it changes nothing), and a second DEL of an orphan
 * another member already deleted changes nothing either.
 */
export async function repairRelations(ctx: ServerContext, relations: Relations): Promise<{ orphans: number; created: number }> {
  const { state } = ctx;
  const events: EventInput[] = [];
  const seen = new Set<string>();
  for (const type of relations.graph.childTypes()) {
    for (const edge of relations.graph.parents(type)) {
      for (const item of state.all(type)) {
        const fk = item[edge.field];
        if (typeof fk !== 'string' || fk === '' || state.get(edge.parentType, fk)) continue;
        const k = `${type}\u0000${item.id}`;
        if (seen.has(k)) continue;
        seen.add(k);
        events.push({ itemType: type, changeType: 'DEL', item: { id: item.id } });
      }
    }
  }
  const orphans = events.length;
  for (const spec of relations.graph.ensureSpecs) {
    const lists = spec.depTypes.map((t) => [...state.all(t)]);
    if (lists.some((l) => l.length === 0)) continue;
    const idx = lists.map(() => 0);
    for (;;) {
      const combo = idx.map((i, k) => lists[k]![i]!);
      const id = ensuredId(spec.itemType, combo.map((d) => d.id));
      if (!state.get(spec.itemType, id)) {
        const item = relations.makeEnsured(spec, combo, id);
        if (item) events.push({ itemType: spec.itemType, changeType: 'SET', item });
      }
      let k = lists.length - 1;
      while (k >= 0 && ++idx[k]! === lists[k]!.length) idx[k--] = 0;
      if (k < 0) break;
    }
  }
  if (events.length > 0) await ctx.emit(events, { serverId: ctx.serverId });
  return { orphans, created: events.length - orphans };
}
