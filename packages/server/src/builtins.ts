import { builtinQueryIds, itemTypeOfCountReport } from '@myko/protocol';
import { definePlugin, type QueryDef, type QueryFilter, type ReportDef } from './core/registry.js';
import { paramFilter } from './live/param-filter.js';

/** `GetXsByQuery` and the unknown-id fallback: params → filter (live/param-filter.ts). */
export const equalityFilter = paramFilter;

const all: QueryFilter = { match: () => true };

const byIds = (params: Record<string, unknown>): QueryFilter => {
  const ids = params.ids;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string'))
    throw new Error('params.ids must be an array of strings');
  const set = new Set(ids as string[]);
  return { ids: [...set], match: (item) => set.has(item.id) };
};

/**
 * WIRE.md 1.3: `GetAllXs`, `GetXsByIds`, `GetXsByQuery` for any item type X,
 * and any other query id falls back to an equality filter on X.
 */
export function builtinQueryResolver(queryId: string, itemType: string): QueryDef {
  const names = builtinQueryIds(itemType);
  if (queryId === names.all) return { id: queryId, compile: () => all };
  if (queryId === names.byIds) return { id: queryId, compile: byIds };
  return { id: queryId, compile: equalityFilter };
}

/** `GetXsCount` for any X (and `CountItems {itemType}`): a live count. */
export function countReportResolver(reportId: string): ReportDef | undefined {
  const itemType = itemTypeOfCountReport(reportId);
  if (!itemType) return undefined;
  return { id: reportId, dependsOn: () => [itemType], compute: (_p, state) => state.count(itemType) };
}

const countItems: ReportDef<{ itemType?: unknown }, number> = {
  id: 'CountItems',
  dependsOn: (p) => {
    if (typeof p.itemType !== 'string' || p.itemType === '') throw new Error('params.itemType must be a non-empty string');
    return [p.itemType];
  },
  compute: (p, state) => state.count(p.itemType as string),
};

/** The Client item of WIRE.md 1.4: one per live connection, persisted so cluster members see it. */
export const clientItemType = {
  name: 'Client',
  schema: {
    type: 'object',
    required: ['id', 'serverId'],
    properties: {
      id: { type: 'string' },
      serverId: { type: 'string' },
      address: { type: 'string' },
      connectedAt: { type: 'string' },
      dialect: { enum: ['seed', 'current'] },
      // WIRE.md 6.5: the time SetClientWindbackTime recorded, null when none (builtins/framework.ts).
      windback: { type: ['string', 'null'] },
    },
  },
};

/** A cluster member (cluster/membership.ts). */
export const serverItemType = {
  name: 'Server',
  schema: {
    type: 'object',
    required: ['id', 'address', 'port', 'startedAt', 'version'],
    properties: { id: { type: 'string' }, address: { type: 'string' }, port: { type: 'integer' }, startedAt: { type: 'string' }, version: { type: 'string' } },
  },
};

export const builtinPlugin = definePlugin({
  name: 'myko-builtins',
  itemTypes: [clientItemType, serverItemType],
  queryResolvers: [builtinQueryResolver],
  reports: [countItems as ReportDef<any, any>],
  reportResolvers: [countReportResolver],
});
