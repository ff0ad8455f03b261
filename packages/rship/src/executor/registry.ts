import type { ExecutorAction } from './dispatch.js';
import type { ExecutorInstance } from './instance.js';
import type { ExecutorEmitter } from './pulses.js';
import { byTypeOrder, type Built } from './types.js';

/**
 * What this executor offers, session-wide: its instances (each holding its
 * targets, see instance.ts and target.ts), and every action and emitter by id,
 * as dispatch and pulses look them up. Ids are unique across the session.
 */
export class ExecutorRegistry {
  readonly instances = new Map<string, ExecutorInstance>();
  readonly actions = new Map<string, ExecutorAction>();
  readonly emitters = new Map<string, ExecutorEmitter>();

  addAction(a: ExecutorAction): void {
    if (this.actions.has(a.id)) throw new Error(`action id ${a.id} is already used in this session`);
    this.actions.set(a.id, a);
  }

  addEmitter(e: ExecutorEmitter): void {
    if (this.emitters.has(e.id)) throw new Error(`emitter id ${e.id} is already used in this session`);
    this.emitters.set(e.id, e);
  }

  /** Every item of every instance, in registration order (what a Target references first). */
  buildAll(): Built[] {
    const items: Built[] = [];
    for (const inst of this.instances.values()) items.push(...inst.buildAll());
    return items.sort(byTypeOrder);
  }

  /** Every target offline and every instance Unavailable: what a closing session leaves behind. */
  goingAway(): Built[] {
    const events: Built[] = [];
    for (const inst of this.instances.values()) {
      for (const t of inst.allTargets()) events.push(['TargetStatus', { ...t.statusItem(), status: 'offline' }]);
      events.push(['Instance', { ...inst.item(), status: 'Unavailable' }]);
    }
    return events;
  }
}
