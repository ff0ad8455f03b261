import type { ServerContext } from '../context.js';
import { PostgresEventStore } from '../store/postgres/index.js';
import { cursorStoreFor } from './cursor-store.js';
import type { ReactionDef } from './define.js';
import { ReactionLeases } from './leases.js';
import { ReactionRunner, type ReactionStatus } from './runner.js';

/** How often a cluster member that does not run a reaction tries to take it over. */
const contendEveryMs = 1000;

/**
 * Every reaction of the server (registered by plugins, define.ts). Started
 * once the server serves; stopped first at shutdown, before the writer
 * drains. Embedded: each runs here. Cluster: each runs on the one member
 * holding its lock (leases.ts); the others try again every second.
 */
export class Reactions {
  private runners: ReactionRunner[] = [];
  private leases: ReactionLeases | undefined;
  private timer: NodeJS.Timeout | undefined;
  private contending = false;

  constructor(
    private readonly ctx: () => ServerContext,
    private readonly defs: readonly ReactionDef[],
  ) {}

  async start(): Promise<void> {
    if (this.defs.length === 0) return;
    const ctx = this.ctx();
    for (const d of this.defs)
      if (!ctx.registry.isPersistent(d.itemType))
        throw new Error(`reaction ${d.id}: ${d.itemType} is not written to the log (persist: false), so there is no position to resume from; reactions run on logged events only`);
    const cursors = cursorStoreFor(ctx.store);
    this.runners = this.defs.map((d) => new ReactionRunner(d, ctx, cursors));
    ctx.writer.listeners.push((_changes, stored) => {
      for (const r of this.runners) r.onCommitted(stored);
    });
    if (!(ctx.store instanceof PostgresEventStore)) {
      for (const r of this.runners) r.start();
      return;
    }
    this.leases = new ReactionLeases(ctx.store, ctx.log, () => {
      for (const r of this.runners) void r.stop(0);
    });
    await this.contend();
    this.timer = setInterval(() => void this.contend(), contendEveryMs);
    this.timer.unref();
  }

  private async contend(): Promise<void> {
    if (this.contending || !this.leases) return;
    this.contending = true;
    try {
      for (const r of this.runners) {
        if (r.running) continue;
        if (await this.leases.tryTake(r.def.id)) {
          this.ctx().log.info({ reaction: r.def.id }, 'running reaction on this member');
          r.start();
        }
      }
    } catch (err) {
      this.ctx().log.warn({ err: (err as Error).message }, 'could not contend for reactions; retrying');
    } finally {
      this.contending = false;
    }
  }

  status(): ReactionStatus[] {
    return this.runners.map((r) => r.status());
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.runners.map((r) => r.stop()));
    await this.leases?.close();
  }
}
