import { randomUUID } from 'node:crypto';
// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { ServerContext } from '../context.js';
import { definePlugin, type EventInput, type MykoPlugin } from '../core/registry.js';
import { historicState } from './historic-state.js';
import { subtreeRestoreEvents, unrestorableTypes } from './subtree-restore.js';

export const RestorePointType = 'RestorePoint';

/**
 * Restore points: a name for a log position, and a command that brings
 * current state back to it by appending events. History is never rewritten;
 * watchers see the restore as ordinary diffs, and it can itself be undone:
 * each restore first records a restore point at the position it starts from
 * and answers its id as `undo`.
 *
 * Two kinds, told apart by `rootType`:
 * - whole-store (`CreateRestorePoint {name}`): answers the point item;
 *   `RestoreToPoint` answers `{restoredTo, name, undo, set, deleted}`, `undo`
 *   being a point taken just before the restore;
 * - subtree (`CreateRestorePoint {name, description?, rootType, rootId}`, the
 *   reference server's shape, WIRE.md 6.5): answers the new point's id;
 *   `RestoreToPoint` converges the subtree under the root (declared
 *   relationships) in one commit and answers the number of events it wrote.
 *   Its events carry the command's tx, so `UndoTransaction` undoes it.
 * Each kind answers as its own clients expect; a reference client only ever
 * creates subtree points.
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
        schema: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1 },
            description: { type: ['string', 'null'] },
            rootType: { type: ['string', 'null'] },
            rootId: { type: ['string', 'null'] },
          },
        },
        async handler(p, cctx) {
          const c = ctx();
          await c.writer.barrier();
          if (typeof p.rootType === 'string' || typeof p.rootId === 'string') {
            if (typeof p.rootType !== 'string' || p.rootType === '' || typeof p.rootId !== 'string' || p.rootId === '')
              throw Object.assign(new Error('CreateRestorePoint: rootType and rootId go together (both non-empty strings)'), { code: 'MYKO_BAD_COMMAND' });
            const now = new Date().toISOString();
            const point = {
              id: randomUUID(),
              name: p.name as string,
              description: typeof p.description === 'string' ? p.description : null,
              rootType: p.rootType,
              rootId: p.rootId,
              // The log position is what the restore goes back to; atTimestamp is the reference server's field.
              position: c.writer.position,
              eventId: c.writer.lastEventId,
              atTimestamp: now,
              createdAt: now,
            };
            await cctx.emit({ itemType: RestorePointType, changeType: 'SET', item: point });
            return point.id;
          }
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
          await c.writer.barrier();
          const skip = unrestorableTypes(c, RestorePointType);
          if (typeof point.rootType === 'string' && typeof point.rootId === 'string') {
            const events = await subtreeRestoreEvents(c, { position, rootType: point.rootType, rootId: point.rootId }, skip, cctx.tx);
            if (events.length > 0) await cctx.emit(events);
            return events.length;
          }
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
          // One tx (the command's) for the whole restore: UndoTransaction can undo it too.
          await cctx.emit(([{ itemType: RestorePointType, changeType: 'SET', item: undo }, ...events] as EventInput[]).map((e) => ({ ...e, tx: cctx.tx })));
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
