import { randomUUID } from 'node:crypto';
import type { MItem } from '@myko/protocol';
// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { ServerContext } from '../context.js';
import { definePlugin, type MykoPlugin } from '../core/registry.js';
import type { StoredEvent } from '../store/event-store.js';
import { convergeEvents } from '../relations/converge.js';
import { RelationGraph } from '../relations/graph.js';

/** One item a transaction touched, and what undoing it means (the reference server's UndoTarget, camelCase). */
export interface UndoTarget {
  itemType: string;
  itemId: string;
  /** The item just before the transaction; absent when the transaction created it (undo deletes it). */
  prior?: MItem;
  /** What the transaction last wrote for it (a DEL's item for a delete). */
  inTxValue: MItem;
  /** The item is no longer what the transaction left: undoing would overwrite a later change. */
  conflict: boolean;
  /** The later transactions that wrote it (ours: names who to ask before forcing). */
  laterTxs: string[];
}

/** Framework items are live connection state, not application data: never undone. */
const notUndoable = new Set(['Client', 'Server']);
const chunk = 10_000;

/**
 * The undo plan of transaction `transactionId` (every stored event whose
 * `tx` is it, derived cascade and ensured events included): per touched
 * item, its value before the transaction and whether a later change would be
 * overwritten. Reads the transaction's events (the store's tx index), then
 * each touched item's history.
 */
export async function transactionUndoPlan(c: ServerContext, transactionId: string): Promise<UndoTarget[]> {
  await c.writer.barrier();
  const touched = new Map<string, { itemType: string; id: string; first: number; last: StoredEvent }>();
  for (const e of await eventsOfTx(c, transactionId)) {
    if (notUndoable.has(e.itemType)) continue;
    const k = `${e.itemType}\u0000${e.item.id}`;
    const t = touched.get(k);
    if (t) t.last = e;
    else touched.set(k, { itemType: e.itemType, id: e.item.id, first: e.position, last: e });
  }
  const plan: UndoTarget[] = [];
  for (const t of touched.values()) {
    let prior: MItem | undefined;
    const laterTxs = new Set<string>();
    for (const e of await c.store.readHistory(t.itemType, t.id)) {
      if (e.position < t.first) prior = e.changeType === 'SET' ? e.item : undefined;
      else if (e.position > t.last.position && e.tx !== transactionId) laterTxs.add(e.tx);
    }
    const left = t.last.changeType === 'SET' ? t.last.item : undefined;
    const target: UndoTarget = {
      itemType: t.itemType,
      itemId: t.id,
      inTxValue: t.last.item,
      conflict: !equal(c.state.get(t.itemType, t.id), left),
      laterTxs: [...laterTxs],
    };
    if (prior !== undefined) target.prior = prior;
    plan.push(target);
  }
  return plan;
}

/** From the store's tx index when it has one (SQLite, PostgreSQL), else one pass over the log. */
async function eventsOfTx(c: ServerContext, tx: string): Promise<StoredEvent[]> {
  if (c.store.readTx) return c.store.readTx(tx);
  const out: StoredEvent[] = [];
  for (let after = 0; ; ) {
    const events = await c.store.readAfter(after, chunk);
    for (const e of events) if (e.tx === tx) out.push(e);
    if (events.length < chunk) return out;
    after = events[events.length - 1]!.position;
  }
}

/**
 * `TransactionUndoPlan {transactionId}` (report, computed once when asked,
 * as the reference server's) and `UndoTransaction {transactionId, force?}`
 * (command): undo one transaction in one forward commit with the command's
 * own tx, so the undo can be undone in turn. Refused with MYKO_UNDO_CONFLICT,
 * naming the items, when a later change would be overwritten, unless `force`.
 * Answers the number of events written (0: nothing to undo).
 */
export function undoPlugin(ctx: () => ServerContext): MykoPlugin {
  return definePlugin({
    name: 'myko-undo',
    reports: [
      {
        id: 'TransactionUndoPlan',
        dependsOn: () => [],
        compute(p) {
          if (typeof p.transactionId !== 'string' || p.transactionId === '') throw new Error('transactionId must be a non-empty string');
          return transactionUndoPlan(ctx(), p.transactionId);
        },
      },
    ],
    commands: [
      {
        id: 'UndoTransaction',
        schema: {
          type: 'object',
          required: ['transactionId'],
          properties: { transactionId: { type: 'string', minLength: 1 }, force: { type: ['boolean', 'null'] } },
        },
        async handler(p, cctx) {
          const c = ctx();
          const transactionId = p.transactionId as string;
          const plan = await transactionUndoPlan(c, transactionId);
          const conflicts = plan.filter((t) => t.conflict);
          if (conflicts.length > 0 && p.force !== true) {
            const names = conflicts.map((t) => `${t.itemType}:${t.itemId}`);
            throw Object.assign(
              new Error(
                `cannot undo transaction ${transactionId}: ${names.length} item(s) changed by a later transaction (undoing would overwrite that change; send force: true to undo anyway): ${names.join(', ')}`,
              ),
              { code: 'MYKO_UNDO_CONFLICT', conflicts: names },
            );
          }
          const sets = plan.filter((t) => t.prior !== undefined && !equal(c.state.get(t.itemType, t.itemId), t.prior)).map((t) => ({ itemType: t.itemType, item: t.prior! }));
          const dels = plan.filter((t) => t.prior === undefined && c.state.get(t.itemType, t.itemId) !== undefined).map((t) => ({ itemType: t.itemType, id: t.itemId }));
          // Its own tx (the command's), so undoing the undo is one more UndoTransaction.
          const tx = cctx.tx === transactionId ? randomUUID() : cctx.tx;
          const graph = c.writer.relations?.graph ?? new RelationGraph(c.registry);
          const events = convergeEvents(graph, c.state, sets, dels, tx);
          if (events.length > 0) await cctx.emit(events);
          return events.length;
        },
      },
    ],
  });
}
