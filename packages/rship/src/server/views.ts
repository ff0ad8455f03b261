import { defineView, type StateReader, type ViewDef } from '@myko/server';
import type { MItem } from '@myko/protocol';
import type { Action, Emitter, Target, TargetStatus } from '../entities.js';

/**
 * Rocketship views (WIRE.md 6.3): a Target joined with what a dashboard shows
 * next to it, built on the server and kept live.
 *
 * `TargetView` items (never stored) carry the target, its statuses, whether
 * any of them is online, its actions and its emitters, each list ordered by
 * id. The item's id is the target's, so pages order views like targets.
 *
 * Incremental: a change to a Target, TargetStatus, Action or Emitter rebuilds
 * only the view of the target it names (before and after the change, for an
 * action moved between targets); Pulses are not an input, so a pulse storm
 * recomputes nothing.
 */
export interface TargetView {
  id: string;
  target: Target;
  isOnline: boolean;
  statuses: TargetStatus[];
  actions: Action[];
  emitters: Emitter[];
  [extra: string]: unknown;
}

const inputs = ['Target', 'TargetStatus', 'Action', 'Emitter'] as const;

const byId = (a: MItem, b: MItem) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function children<T>(state: StateReader, itemType: string, targetId: string): T[] {
  const out: MItem[] = [];
  for (const id of state.lookup(itemType, 'targetId', targetId)) {
    const item = state.get(itemType, id);
    if (item) out.push(item);
  }
  return out.sort(byId) as unknown as T[];
}

/** The joined view of one target, or undefined when the target does not exist. */
export function targetView(state: StateReader, targetId: string): TargetView | undefined {
  const target = state.get('Target', targetId) as Target | undefined;
  if (!target) return undefined;
  const statuses = children<TargetStatus>(state, 'TargetStatus', targetId);
  return {
    id: targetId,
    target,
    isOnline: statuses.some((s) => s.status === 'online'),
    statuses,
    actions: children<Action>(state, 'Action', targetId),
    emitters: children<Emitter>(state, 'Emitter', targetId),
  };
}

const idList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * The target ids a change of an input type can affect. A Target's own change
 * also reaches the targets its `subTargets` list (before and after): the 2023
 * executors build their tree from the parent's side, so whether those are its
 * children can change with it.
 */
function affectedTargets(itemType: string, id: string, prev: MItem | undefined, next: MItem | undefined): string[] {
  if (itemType === 'Target') return [...new Set([id, ...idList(prev?.subTargets), ...idList(next?.subTargets)])];
  const ids = new Set<string>();
  for (const item of [prev, next]) if (item && typeof item.targetId === 'string') ids.add(item.targetId);
  return [...ids];
}

/** A TargetView per target the predicate admits; shared by the views below. */
function joinView<P extends Record<string, unknown>>(
  id: string,
  itemType: string,
  params: object,
  admits: (view: TargetView, params: P, state: StateReader) => boolean,
): ViewDef<P, TargetView> {
  const item = (targetId: string, p: P, state: StateReader) => {
    const v = targetView(state, targetId);
    return v && admits(v, p, state) ? v : undefined;
  };
  return defineView<P, TargetView>({
    id,
    itemType,
    params,
    dependsOn: () => inputs,
    build(p, state) {
      const out: TargetView[] = [];
      for (const t of state.all('Target')) {
        const v = item(t.id, p, state);
        if (v) out.push(v);
      }
      return out;
    },
    affects: (c) => affectedTargets(c.itemType, c.id, c.prev, c.next),
    item,
  });
}

const nullableString = { type: ['string', 'null'] };
const nullableBool = { type: ['boolean', 'null'] };

/**
 * `GetTargetViews {serviceId?, includeOffline?}` → `TargetView` items: every
 * target (of one service when given), joined. `includeOffline: false` leaves
 * out targets with no online status.
 */
export const getTargetViews = joinView<{ serviceId?: string; includeOffline?: boolean }>(
  'GetTargetViews',
  'TargetView',
  { type: 'object', properties: { serviceId: nullableString, includeOffline: nullableBool }, additionalProperties: false },
  (v, p) => (p.serviceId === undefined || v.target.serviceId === p.serviceId) && (p.includeOffline !== false || v.isOnline),
);

/**
 * `GetTargetTreeByParentFiltered {parentTargetId?, includeOffline?}` →
 * `TargetTreeView` items (the reference server's name for the same join):
 * the children of `parentTargetId`, or, without it, the root targets.
 * Executors describe the tree from either side: current ones list a child's
 * `parentTargets`; 2023 ones list a parent's `subTargets` and mark every
 * child `rootLevel: false`. A target is a child of P when its
 * `parentTargets` hold P or P's `subTargets` hold it; it is a root when
 * `rootLevel` is true, or when it is not false and the target has no parents.
 * Unknown params (the reference clients send a few more) are ignored.
 */
export const getTargetTreeByParentFiltered = joinView<{ parentTargetId?: string; includeOffline?: boolean }>(
  'GetTargetTreeByParentFiltered',
  'TargetTreeView',
  { type: 'object', properties: { parentTargetId: nullableString, includeOffline: nullableBool } },
  (v, p, state) => {
    if (p.includeOffline === false && !v.isOnline) return false;
    const parents = idList(v.target.parentTargets);
    if (p.parentTargetId === undefined) return v.target.rootLevel === true || (v.target.rootLevel !== false && parents.length === 0);
    return parents.includes(p.parentTargetId) || idList(state.get('Target', p.parentTargetId)?.subTargets).includes(v.id);
  },
);

export const rshipViews = [getTargetViews, getTargetTreeByParentFiltered];
