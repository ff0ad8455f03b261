import { randomUUID } from 'node:crypto';
// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { ServerContext } from '../context.js';
import { definePlugin, type EventInput, type MykoPlugin } from '../core/registry.js';
import { historicState } from './historic-state.js';

export const RestorePointType = 'RestorePoint';

/**
 * Restore points: a name for a log position, and a command that brings
 * current state back to it by appending events. History is never rewritten;
 * watchers see the restore as ordinary diffs, and it can itself be undone:
 * each restore first records a restore point at the position it starts from
 * and answers its id as `undo`.
 *
 * Not restored: `RestorePoint` items themselves, `Client` and `Server` items (who is connected now), and types
 * owned by live connections (an executor is the source of truth for its
 * instances and target statuses; the server cannot roll back a stage).
 */
export function restorePointsPlugin(ctx: () => ServerContext): MykoPlugin {
  return definePlugin({
    name: 'myko-restore-points',
    itemTypes: [
      {
        name: RestorePointType,
        schema: { type: 'object', required: ['id', 'name', 'position'], properties: { name: { type: 'string' }, position: { type: 'integer' } } },
      },
    ],
    commands: [
      {
        id: 'CreateRestorePoint',
        schema: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
        async handler(p, cctx) {
          const c = ctx();
          await c.writer.idle();
          const point = { id: randomUUID(), name: p.name as string, position: c.writer.position, eventId: c.writer.lastEventId, createdAt: new Date().toISOString() };
          await cctx.emit({ itemType: RestorePointType, changeType: 'SET', item: point });
          return point;
        },
      },
      {
        id: 'RestoreToPoint',
        schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        async handler(p, cctx) {
          const c = ctx();
          const point = c.state.get(RestorePointType, p.id as string);
          if (!point) throw Object.assign(new Error(`unknown restore point ${String(p.id)}`), { code: 'MYKO_BAD_COMMAND' });
          const position = point.position as number;
          await c.writer.idle();
          const skip = new Set([RestorePointType, 'Client', 'Server', ...c.registry.ownedItemTypes().map((t) => t.def.name)]);
          const then = await historicState(c.store, { position }, undefined, c.state.backrefs);
          const types = new Set([...c.state.itemTypes(), ...then.itemTypes()].filter((t) => !skip.has(t) && c.registry.isPersistent(t)));
          const events: EventInput[] = [];
          for (const t of types) {
            for (const item of c.state.all(t)) if (!then.get(t, item.id)) events.push({ itemType: t, changeType: 'DEL', item: { id: item.id } });
            for (const item of then.all(t)) if (!equal(c.state.get(t, item.id), item)) events.push({ itemType: t, changeType: 'SET', item });
          }
          // The restore is undone by restoring to the state just before it: a restore point at the current
          // position, written in the same batch as the restore's events (so it exists exactly when they do).
          const undo = { id: randomUUID(), name: `before restoring to "${String(point.name)}"`, position: c.writer.position, eventId: c.writer.lastEventId, createdAt: new Date().toISOString() };
          await cctx.emit([{ itemType: RestorePointType, changeType: 'SET', item: undo }, ...events]);
          return {
            restoredTo: position,
            name: point.name,
            undo: undo.id,
            set: events.filter((e) => e.changeType === 'SET').length,
            deleted: events.filter((e) => e.changeType === 'DEL').length,
          };
        },
      },
    ],
  });
}
