import type { ServerContext } from '../context.js';
import type { EventStore } from '../store/event-store.js';
import { verifyLog, type VerifyResult } from '../log/verify.js';

/** How long the store may take to answer the health probe before it counts as unreachable. */
const probeTimeoutMs = 2000;

export interface StoreProbe {
  reachable: boolean;
  ms: number;
  error?: string;
}

/**
 * A trivial round trip to the store: `SELECT 1` on SQLite's handle or on the
 * PostgreSQL pool; any other store is asked for its last position.
 */
export async function probeStore(store: EventStore): Promise<StoreProbe> {
  const t0 = performance.now();
  const s = store as EventStore & {
    ping?: () => Promise<void>;
    pool?: { query(sql: string): Promise<unknown> };
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const probe = s.ping ? s.ping() : s.pool ? s.pool.query('SELECT 1') : store.lastPosition();
    await Promise.race([
      probe,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${probeTimeoutMs} ms`)), probeTimeoutMs))),
    ]);
    return { reachable: true, ms: round(performance.now() - t0) };
  } catch (err) {
    return { reachable: false, ms: round(performance.now() - t0), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export interface VerifyStatus {
  /** The log was verified before serving (`--verify-on-boot`). */
  onBoot: boolean;
  running: boolean;
  /** The latest run: the boot's until the verifier runs again. */
  last: (VerifyResult & { at: string }) | null;
  /** The `--verify-on-boot` run, kept after later runs; null when it was off. */
  boot: (VerifyResult & { at: string }) | null;
}

/** `myko verify` on the running server, one run at a time; the last result is kept for /health and the dashboard. */
export class Verifier {
  private run: Promise<VerifyResult & { at: string }> | undefined;
  private last: (VerifyResult & { at: string }) | null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly boot: (VerifyResult & { at: string }) | null = null,
  ) {
    this.last = boot;
  }

  status(): VerifyStatus {
    return { onBoot: this.ctx.config.verifyOnBoot, running: this.run !== undefined, last: this.last, boot: this.boot };
  }

  verify(): Promise<VerifyResult & { at: string }> {
    this.run ??= verifyLog(this.ctx.store)
      .then((r) => (this.last = { ...r, at: new Date().toISOString() }))
      .finally(() => (this.run = undefined));
    return this.run;
  }
}

export interface HealthBody {
  /** ok: serving; unready: up but the store does not answer; stopping: shutting down. */
  status: 'ok' | 'unready' | 'stopping';
  ready: boolean;
  serverId: string;
  store: { kind: string } & StoreProbe;
  position: number;
  connections: number;
  liveQueries: number;
  liveViews: number;
  liveReports: number;
  cluster: boolean;
  uptimeSeconds: number;
  auth: boolean;
  verify: VerifyStatus;
}

/**
 * Readiness (`/health/ready`, and `/health` for the probes written before the
 * split): 200 when ready to serve, 503 when the store does not answer or the
 * server is stopping, always with this JSON body.
 */
export async function health(ctx: ServerContext, verifier: Verifier, cluster: boolean, startedAt: number): Promise<HealthBody> {
  const probe = ctx.stopping ? { reachable: false, ms: 0, error: 'stopping' } : await probeStore(ctx.store);
  const status = ctx.stopping ? 'stopping' : probe.reachable ? 'ok' : 'unready';
  return {
    status,
    ready: status === 'ok',
    serverId: ctx.serverId,
    store: { kind: ctx.store.kind, ...probe },
    position: ctx.writer.position,
    connections: ctx.connections.size,
    liveQueries: ctx.queries.size,
    liveViews: ctx.views.size,
    liveReports: ctx.reports.size,
    cluster,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    auth: ctx.auth !== undefined,
    verify: verifier.status(),
  };
}

export interface LivenessBody {
  status: 'live';
  /** Shutting down: still live (the process ends by itself), no longer ready. */
  stopping: boolean;
  serverId: string;
  uptimeSeconds: number;
}

/**
 * Liveness (`/health/live`): the process answers HTTP. It never touches the
 * store, so an orchestrator that restarts on failed liveness does not restart
 * a server whose database is down (readiness reports that, and the server
 * recovers when the database does).
 */
export function liveness(ctx: ServerContext, startedAt: number): LivenessBody {
  return { status: 'live', stopping: ctx.stopping, serverId: ctx.serverId, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) };
}
