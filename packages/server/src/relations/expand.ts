import { copyWith, type MItem } from '@myko/protocol';
import type { Logger } from '../logger.js';
import type { Registry } from '../core/registry.js';
import type { StateReader } from '../core/state.js';
import type { NewEvent } from '../store/event-store.js';
import { withHash } from '../core/hash.js';
import { ensuredId } from './ensured-id.js';
import type { EnsureSpec, RelationGraph } from './graph.js';
import { Overlay } from './overlay.js';

/** A batch with what its relationships call for, each derived event right after the event that caused it. */
export interface Expansion {
  events: NewEvent[];
  /** The derived events (cascade DELs, ensured SETs): committed and applied, not answered to the submitter. */
  extras: Set<NewEvent>;
}

/**
 * Expands event batches in the writer, before they are appended, so what a
 * relationship implies is committed in the same transaction as its cause:
 *
 * - DEL of an item deletes what hangs off it (its `belongsTo` children and
 *   the `ensureFor` items it is a dependency of), transitively; an item
 *   leaves the batch's view before its own children are looked up, so
 *   cycles end and nothing is deleted twice.
 * - SET of an item that did not exist creates every missing `ensureFor`
 *   item it completes a combination for (deterministic ids).
 *
 * Derived events carry the cause's tx and createdAt (undoing that tx undoes
 * them too) and no clientId: the server made them. They are ordinary events
 * in the log, so history, verify and export need nothing special. A derived
 * event is only ever created here, by the member that commits its cause;
 * cluster members applying it from the log do not expand it again.
 */
export class Relations {
  constructor(
    readonly graph: RelationGraph,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {}

  /** Whether a batch can call for derived events (the writer then makes sure its state is current first). */
  concerns(events: readonly NewEvent[]): boolean {
    return events.some((e) => (e.changeType === 'DEL' ? this.graph.children(e.itemType).length > 0 : this.graph.ensuredBy(e.itemType).length > 0));
  }

  /** One per committed group: later submissions see the earlier ones' effects. */
  session(base: StateReader): { expand(events: readonly NewEvent[]): Expansion } {
    const overlay = new Overlay(base);
    return { expand: (events) => this.expand(events, overlay) };
  }

  private expand(events: readonly NewEvent[], view: Overlay): Expansion {
    const out: NewEvent[] = [];
    const extras = new Set<NewEvent>();
    const emit = (e: NewEvent, cause: NewEvent | undefined): void => {
      out.push(e);
      if (cause) extras.add(e);
      if (e.changeType === 'DEL') {
        // Out of the view before its children are looked at: a cycle comes back to an absent item and ends.
        view.del(e.itemType, e.item.id);
        this.cascade(e, view, (d) => emit(d, e));
      } else {
        const existed = view.get(e.itemType, e.item.id) !== undefined;
        view.set(e.itemType, e.item);
        if (!existed) for (const spec of this.graph.ensuredBy(e.itemType)) this.ensure(spec, e, view, (d) => emit(d, e));
      }
    };
    for (const e of events) emit(e, undefined);
    return { events: out, extras };
  }

  private cascade(cause: NewEvent, view: Overlay, emit: (e: NewEvent) => void): void {
    for (const edge of this.graph.children(cause.itemType)) {
      for (const id of [...view.lookup(edge.childType, edge.field, cause.item.id)]) {
        // Gone already when reached by another path in this cascade (two foreign keys to deleted parents).
        if (view.get(edge.childType, id) === undefined) continue;
        emit(derived(cause, edge.childType, 'DEL', { id }));
      }
    }
  }

  /** Every combination `item` completes, with `item` in each position of its type. */
  private ensure(spec: EnsureSpec, cause: NewEvent, view: Overlay, emit: (e: NewEvent) => void): void {
    spec.depTypes.forEach((depType, pos) => {
      if (depType !== cause.itemType) return;
      const choices = spec.depTypes.map((t, i) => (i === pos ? [cause.item] : [...view.all(t)]));
      for (const combo of product(choices)) {
        const ids = combo.map((d) => d.id);
        const id = ensuredId(spec.itemType, ids);
        if (view.get(spec.itemType, id)) continue;
        const item = this.makeEnsured(spec, combo, id);
        if (item) emit(derived(cause, spec.itemType, 'SET', item));
      }
    });
  }

  /** The ensured item for one combination, or undefined (logged) when the declaration builds an invalid one. */
  makeEnsured(spec: EnsureSpec, deps: readonly MItem[], id = ensuredId(spec.itemType, deps.map((d) => d.id))): MItem | undefined {
    let fields: Record<string, unknown>;
    try {
      fields = spec.make(...deps);
    } catch (err) {
      this.log.error({ err, itemType: spec.itemType, deps: deps.map((d) => d.id) }, 'ensureFor make() threw: item not created');
      return undefined;
    }
    const { hash: _hash, ...rest } = fields as Record<string, unknown> & { hash?: unknown };
    const raw = copyWith(rest, 'id', id) as MItem;
    spec.fields.forEach((f, i) => ((raw as Record<string, unknown>)[f] = deps[i]!.id));
    const problem = this.registry.itemType(spec.itemType)?.check(raw);
    if (problem) {
      this.log.error({ itemType: spec.itemType, id, problem }, 'ensureFor built an item its type refuses: item not created');
      return undefined;
    }
    return withHash(raw).item;
  }
}

function derived(cause: NewEvent, itemType: string, changeType: 'SET' | 'DEL', item: MItem): NewEvent {
  return { itemType, changeType, item, createdAt: cause.createdAt, tx: cause.tx, sourceId: cause.sourceId };
}

function* product<T>(lists: readonly (readonly T[])[]): Generator<T[]> {
  if (lists.some((l) => l.length === 0)) return;
  const idx = lists.map(() => 0);
  for (;;) {
    yield idx.map((i, k) => lists[k]![i]!);
    let k = lists.length - 1;
    while (k >= 0 && ++idx[k]! === lists[k]!.length) idx[k--] = 0;
    if (k < 0) return;
  }
}
