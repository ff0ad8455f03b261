import { randomUUID } from 'node:crypto';
import { builtinQueryIds, ErrorCode, parsePerTypeReport, type MItem } from '@myko/protocol';
import type { CommandDef, QueryFilter, Registry, ReportDef } from '../core/registry.js';
import type { StateReader } from '../core/state.js';

/**
 * The per-type built-ins of the reference server (WIRE.md 6.5), for any item
 * type X, registered or not:
 *
 *   reports   CountAll{X}s {}           → {count}, live
 *             Count{X}s {...query}      → {count}, live; params as GetXsByQuery
 *             Get{X}ById {id}           → the item, or null; live
 *   commands  Delete{X} {id}            → {deleted: true}; MYKO_NOT_FOUND when absent
 *             Delete{X}s {ids}          → {deletedCount}
 *
 * Reports recompute only when an item of X changes (dependsOn). Deletes go
 * through the ordinary event path as the caller: validation, permission
 * rules, other live clients' ownership, the log.
 */

/**
 * `Count{X}s` filters with whatever `GetXsByQuery` compiles to, asked of the
 * registry: one filter for both, so null-means-any, `seq` and v5 filter
 * objects behave the same in a count as in the query.
 */
function compileByQuery(registry: Registry, itemType: string, params: Record<string, unknown>): QueryFilter {
  const def = registry.query(builtinQueryIds(itemType).byQuery, itemType);
  if (!def) throw new Error(`no query filter for ${itemType}`);
  return def.compile(params, itemType);
}

/** Count matches, narrowed by the filter's index hints when it has any (ids, or a scalar field equality). */
function countMatching(state: StateReader, itemType: string, filter: QueryFilter): number {
  let n = 0;
  if (filter.ids) {
    for (const id of filter.ids) {
      const item = state.get(itemType, id);
      if (item && filter.match(item)) n++;
    }
    return n;
  }
  const hint = filter.eq?.find(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean');
  if (hint) {
    for (const id of state.lookup(itemType, hint[0], hint[1])) {
      const item = state.get(itemType, id);
      if (item && filter.match(item)) n++;
    }
    return n;
  }
  for (const item of state.all(itemType)) if (filter.match(item)) n++;
  return n;
}

/** `registry` is the server's own: the count asks it for the `GetXsByQuery` filter. */
export function perTypeReportResolver(registry: Registry): (reportId: string) => ReportDef | undefined {
  return (reportId) => {
    const parsed = parsePerTypeReport(reportId);
    if (!parsed) return undefined;
    const { itemType } = parsed;
    const dependsOn = () => [itemType];
    switch (parsed.kind) {
      case 'countAll':
        return { id: reportId, dependsOn, compute: (_p, state) => ({ count: state.count(itemType) }) };
      case 'count':
        return {
          id: reportId,
          // Compiling in dependsOn refuses bad params at subscribe time, as the query would.
          dependsOn: (p) => (compileByQuery(registry, itemType, p), [itemType]),
          compute: (p, state) => ({ count: countMatching(state, itemType, compileByQuery(registry, itemType, p)) }),
        };
      case 'getById':
        return {
          id: reportId,
          dependsOn: (p) => (idParam(p), [itemType]),
          compute: (p, state) => state.get(itemType, idParam(p)) ?? null,
        };
    }
  };
}

function idParam(p: Record<string, unknown>): string {
  if (typeof p.id !== 'string' || p.id === '') throw new Error('params.id must be a non-empty string');
  return p.id;
}

class NotFound extends Error {
  readonly code = ErrorCode.NotFound;
}

/**
 * `Delete{X} {id}` and `Delete{X}s {ids}`. The two readings of a name ending
 * in "s" (`DeleteCues`: one item of type `Cues`, or several of type `Cue`)
 * are told apart by the params, which differ: `ids` (an array) means several.
 */
export function deleteCommandResolver(commandId: string): CommandDef | undefined {
  const m = /^Delete(.+)$/.exec(commandId);
  if (!m) return undefined;
  const name = m[1]!;
  return {
    id: commandId,
    handler: async (params, ctx) => {
      if (Array.isArray(params.ids) && name.endsWith('s') && name.length > 1) {
        const itemType = name.slice(0, -1);
        if (!params.ids.every((id) => typeof id === 'string' && id !== ''))
          throw Object.assign(new Error(`${commandId}: params.ids must be an array of non-empty strings`), { code: ErrorCode.BadCommand });
        const present = [...new Set(params.ids as string[])].filter((id) => ctx.state.get(itemType, id));
        // One submission, stored whole or not at all (a refusal of any, by ownership or permission, deletes
        // none), under one tx so the log shows it as one transaction.
        const tx = randomUUID();
        if (present.length > 0)
          await ctx.emitAsCaller(present.map((id) => ({ itemType, changeType: 'DEL' as const, item: { id } as MItem, tx })));
        return { deletedCount: present.length };
      }
      const id = params.id;
      if (typeof id !== 'string' || id === '')
        throw Object.assign(new Error(`${commandId}: params.id must be a non-empty string (or params.ids an array, for Delete{X}s)`), {
          code: ErrorCode.BadCommand,
        });
      if (!ctx.state.get(name, id)) throw new NotFound(`${commandId}: no ${name} with id ${JSON.stringify(id)}`);
      await ctx.emitAsCaller({ itemType: name, changeType: 'DEL', item: { id } as MItem });
      return { deleted: true };
    },
  };
}
