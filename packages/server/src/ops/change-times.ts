import type { ServerContext } from '../context.js';
import type { Change } from '../core/state.js';

/**
 * When the server last changed each item of a memory-only type (`persist:
 * false`, e.g. Rocketship's Pulse), on the server's clock: such items have
 * no log, hence no history to say when they came, and a pulse need not carry
 * its own timestamp. The dashboard asks once when it opens
 * (`GET /api/changed-at/ITEMTYPE`) to show how long ago the pulses already
 * there came; later ones it sees arrive.
 *
 * A writer listener keeps one number per item of those types (they hold the
 * latest item per id, so this is bounded by the state itself) and drops it
 * with the item. Persisted types are not tracked: their history has the time
 * of every event. In a cluster a member records another member's change when
 * its tailer applies it (milliseconds later).
 */
export class ChangeTimes {
  private readonly byType = new Map<string, Map<string, number>>();

  constructor(private readonly ctx: ServerContext) {
    ctx.writer.listeners.push((changes) => this.onChanges(changes));
  }

  tracks(itemType: string): boolean {
    return !this.ctx.registry.isPersistent(itemType);
  }

  private onChanges(changes: readonly Change[]): void {
    let now: number | undefined;
    for (const c of changes) {
      if (!this.tracks(c.itemType)) continue;
      let times = this.byType.get(c.itemType);
      if (c.next === undefined) {
        times?.delete(c.id);
        continue;
      }
      if (!times) this.byType.set(c.itemType, (times = new Map()));
      times.set(c.id, (now ??= Date.now()));
    }
  }

  /** The answer of `GET /api/changed-at/ITEMTYPE[?ids=a,b]`: ISO times by id, and the server's time now. */
  answer(itemType: string, ids: readonly string[] | undefined): { itemType: string; tracked: boolean; now: string; changedAt: Record<string, string> } {
    const times = this.byType.get(itemType);
    const changedAt: Record<string, string> = {};
    if (times) {
      if (ids) {
        for (const id of ids) {
          const t = times.get(id);
          if (t !== undefined) changedAt[id] = new Date(t).toISOString();
        }
      } else for (const [id, t] of times) changedAt[id] = new Date(t).toISOString();
    }
    return { itemType, tracked: this.tracks(itemType), now: new Date().toISOString(), changedAt };
  }
}

/** GET /api/changed-at/ITEMTYPE: null when the path does not name one. */
export function changedAtTarget(url: URL): string | null | 'bad' {
  const m = /^\/api\/changed-at\/([^/]+)$/.exec(url.pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return 'bad';
  }
}
