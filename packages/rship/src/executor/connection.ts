import { byIds, byQuery, type ConnectionStatus, type MykoClient } from '@myko/client';
import type { TargetStatus } from '../entities.js';
import type { ExecutorInstance } from './instance.js';
import type { ExecutorRegistry } from './registry.js';
import { byTypeOrder, type Built, type Item, type RegistrationInfo } from './types.js';

export interface LinkOptions {
  reconcile: boolean;
  resendPulses: boolean;
}

/**
 * The session's connection to the server, keeping the server's copy of the
 * registry true:
 *
 *   connected (new clientId) ─▶ one batch: Machine, Service, Instance (Available),
 *        Action, Emitter, Target, TargetStatus (online) ─▶ last pulses again
 *        ─▶ GetTargetStatussByQuery {instanceId}: statuses of this instance that
 *           this session does not have ─▶ SET offline ─▶ `registered`
 *   changes while connected ─▶ SET the changed items at the end of the microtask
 *   disconnected ─▶ nothing is queued; the next connection registers everything again
 */
export class ServerLink {
  /** Items changed since the last flush, by type and id. */
  private readonly dirty = new Map<string, () => Built | undefined>();
  private flushScheduled = false;
  /** Instances added while live, to reconcile after the next flush. */
  private readonly toReconcile = new Set<ExecutorInstance>();
  /** The clientId whose connection has our registration, or undefined. */
  private liveClientId: string | undefined;
  private generation = 0;
  private info: RegistrationInfo | undefined;
  private readonly registeredListeners = new Set<(info: RegistrationInfo) => void>();
  /** Set when the session starts closing: no registration, no pulse from then on. */
  private closing = false;

  constructor(
    private readonly client: MykoClient,
    private readonly registry: ExecutorRegistry,
    private readonly opts: LinkOptions,
    private readonly emitError: (e: unknown) => void,
  ) {
    client.status.subscribe((s) => this.onStatus(s));
  }

  /** This connection's registration, once written and confirmed; undefined otherwise. */
  get registration(): RegistrationInfo | undefined {
    return this.info;
  }

  /** Called after every (re)registration. Returns the unsubscribe. */
  onRegistered(cb: (info: RegistrationInfo) => void): () => void {
    this.registeredListeners.add(cb);
    return () => this.registeredListeners.delete(cb);
  }

  /** Remember that an item changed; sent at the end of the microtask when connected. */
  touch(itemType: string, id: string, build: () => Built | undefined): void {
    this.dirty.set(`${itemType}\u0000${id}`, build);
    if (this.liveClientId === undefined || this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushDirty());
  }

  /** An instance added while live: its stale statuses are reconciled after the next flush. */
  instanceAdded(inst: ExecutorInstance): void {
    if (this.liveClientId !== undefined) this.toReconcile.add(inst);
  }

  /** SET `item` now, after pending changes (an emitter added in this tick goes before its first pulse); false when not live. */
  sendNow(itemType: string, item: Item): boolean {
    if (this.liveClientId === undefined || this.closing) return false;
    this.flushDirty();
    try {
      this.client.set(itemType, item);
      return true;
    } catch (err) {
      this.emitError(err);
      return false;
    }
  }

  /** Send `goingAway` and wait (at most `timeoutMs`) for the server to have it; then the link is down for good. */
  async close(goingAway: () => Built[], timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.liveClientId !== undefined) {
      this.flushDirty();
      try {
        for (const [type, item] of goingAway()) this.client.set(type, item);
        await withTimeout(this.roundTrip(), timeoutMs);
      } catch {
        // the server marks them offline itself when the connection goes
      }
    }
    this.liveClientId = undefined;
    this.info = undefined;
  }

  private onStatus(s: ConnectionStatus): void {
    if (s.type === 'connected') {
      if (s.clientId !== this.liveClientId && !this.closing) void this.register(s.clientId, s.url);
      return;
    }
    this.liveClientId = undefined;
    this.info = undefined;
    this.generation++;
  }

  /** Everything, in one batch, then reconcile; the same after every reconnect. */
  private async register(clientId: string, url: string): Promise<void> {
    const gen = ++this.generation;
    this.liveClientId = clientId;
    this.info = undefined;
    this.dirty.clear();
    this.toReconcile.clear();
    const items = this.registry.buildAll();
    try {
      for (const [type, item] of items) this.client.set(type, item);
      if (this.opts.resendPulses) for (const e of this.registry.emitters.values()) e.resendQuietly();
      this.client.flush();
      const instances = [...this.registry.instances.values()];
      let staleOffline: string[] = [];
      if (this.opts.reconcile && instances.length > 0) staleOffline = (await Promise.all(instances.map((i) => this.reconcile(i, gen)))).flat();
      // Confirms the batch (no reconcile) or the offline statuses just sent: `registered` means the server has them.
      if (staleOffline.length > 0 || !this.opts.reconcile || instances.length === 0) await this.roundTrip();
      if (gen !== this.generation) return;
      this.info = { clientId, url, items: items.length, staleOffline };
    } catch (err) {
      if (gen === this.generation) this.emitError(new Error(`registration failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const cb of [...this.registeredListeners]) {
      try {
        cb(this.info);
      } catch (err) {
        this.emitError(err);
      }
    }
  }

  /** SET offline the statuses of `inst` that name targets this session does not have. */
  private async reconcile(inst: ExecutorInstance, gen: number): Promise<string[]> {
    const result = await this.client.watchQuery<TargetStatus>(byQuery<TargetStatus>('TargetStatus', { instanceId: inst.id })).first();
    if (gen !== this.generation) return [];
    const stale = result.values.filter((s) => s.status !== 'offline' && !inst.hasTarget(s.targetId));
    for (const s of stale) this.client.set<TargetStatus>('TargetStatus', { id: s.id, targetId: s.targetId, instanceId: s.instanceId, status: 'offline' });
    return stale.map((s) => s.id);
  }

  /** Resolves once the server has processed everything sent before it (events are committed before a later query is answered). */
  private async roundTrip(): Promise<void> {
    await this.client.watchQuery(byIds('Instance', [...this.registry.instances.keys()])).first();
  }

  private flushDirty(): void {
    this.flushScheduled = false;
    if (this.dirty.size === 0 && this.toReconcile.size === 0) return;
    if (this.liveClientId === undefined) {
      this.dirty.clear(); // the next registration sends everything
      return;
    }
    const items: Built[] = [];
    for (const build of this.dirty.values()) {
      const b = build();
      if (b) items.push(b);
    }
    this.dirty.clear();
    items.sort(byTypeOrder);
    try {
      for (const [type, item] of items) this.client.set(type, item);
    } catch (err) {
      this.emitError(err);
    }
    if (this.opts.reconcile && this.toReconcile.size > 0) {
      const gen = this.generation;
      const list = [...this.toReconcile];
      this.toReconcile.clear();
      for (const inst of list) this.reconcile(inst, gen).catch((err) => this.emitError(err));
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
