import type { MItem } from '@myko/protocol';
import type { Registry } from '../core/registry.js';

/** A foreign key: items of `childType` whose `field` holds a `parentType` id hang off that parent. */
export interface Edge {
  childType: string;
  field: string;
  parentType: string;
}

/** One `ensureFor` declaration, compiled. */
export interface EnsureSpec {
  itemType: string;
  /** Key fields on the ensured item, in declaration order. */
  fields: readonly string[];
  /** The dependency item type behind each field. */
  depTypes: readonly string[];
  make: (...deps: MItem[]) => Record<string, unknown>;
}

/**
 * The relationships every item type declares (`belongsTo`, `ensureFor`),
 * inverted for the questions the server asks: "what hangs off an item of
 * this type?" (cascades, subtrees) and "which ensured types depend on this
 * type?" (creation). An ensured item also hangs off each dependency: deleting
 * any of them deletes it, through the same cascade.
 */
export class RelationGraph {
  private readonly byParent = new Map<string, Edge[]>();
  private readonly byChild = new Map<string, Edge[]>();
  private readonly byDep = new Map<string, EnsureSpec[]>();
  readonly ensureSpecs: EnsureSpec[] = [];

  constructor(registry: Registry) {
    const known = new Set(registry.allItemTypes().map((t) => t.def.name));
    const need = (owner: string, type: string, what: string) => {
      if (!known.has(type)) throw new Error(`item type ${owner}: ${what} names item type ${type}, which no plugin defines`);
    };
    for (const { def } of registry.allItemTypes()) {
      for (const [field, parentType] of Object.entries((def.belongsTo ?? {}) as Record<string, string | undefined>)) {
        if (parentType === undefined) continue;
        need(def.name, parentType, `belongsTo.${field}`);
        this.addEdge({ childType: def.name, field, parentType });
      }
      if (def.ensureFor) {
        const entries = Object.entries(def.ensureFor.deps as Record<string, string | undefined>).filter(
          (e): e is [string, string] => e[1] !== undefined,
        );
        if (entries.length === 0) throw new Error(`item type ${def.name}: ensureFor.deps names no dependency`);
        const make = def.ensureFor.make as EnsureSpec['make'] | undefined;
        const spec: EnsureSpec = {
          itemType: def.name,
          fields: entries.map((e) => e[0]),
          depTypes: entries.map((e) => e[1]),
          make: make ?? (() => ({})),
        };
        for (const [field, depType] of entries) {
          need(def.name, depType, `ensureFor.deps.${field}`);
          this.addEdge({ childType: def.name, field, parentType: depType });
          let list = this.byDep.get(depType);
          if (!list) this.byDep.set(depType, (list = []));
          if (!list.includes(spec)) list.push(spec);
        }
        this.ensureSpecs.push(spec);
      }
    }
  }

  /** True when nothing is declared: the writer then skips relations entirely. */
  get empty(): boolean {
    return this.byParent.size === 0;
  }

  /** What hangs off an item of `parentType`. */
  children(parentType: string): readonly Edge[] {
    return this.byParent.get(parentType) ?? [];
  }

  /** The foreign keys an item of `childType` holds. */
  parents(childType: string): readonly Edge[] {
    return this.byChild.get(childType) ?? [];
  }

  /** Every type that holds a foreign key (belongsTo or ensureFor). */
  childTypes(): string[] {
    return [...this.byChild.keys()];
  }

  /** The ensured types a SET of `depType` can call for. */
  ensuredBy(depType: string): readonly EnsureSpec[] {
    return this.byDep.get(depType) ?? [];
  }

  /** Item types reachable from `rootType` through the edges, itself included (what a subtree can hold). */
  reachableTypes(rootType: string): string[] {
    const seen = new Set([rootType]);
    const todo = [rootType];
    while (todo.length > 0) for (const e of this.children(todo.pop()!)) if (!seen.has(e.childType)) seen.add(e.childType), todo.push(e.childType);
    return [...seen];
  }

  private addEdge(edge: Edge): void {
    for (const [map, key] of [
      [this.byParent, edge.parentType],
      [this.byChild, edge.childType],
    ] as const) {
      let list = map.get(key);
      if (!list) map.set(key, (list = []));
      if (!list.some((e) => e.childType === edge.childType && e.field === edge.field && e.parentType === edge.parentType)) list.push(edge);
    }
  }
}
