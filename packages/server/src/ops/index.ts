import type { ServerContext } from '../context.js';
import type { HttpRoute } from '../gateway/http.js';
import { OpsMetrics } from './metrics.js';
import { health, liveness, Verifier, type HealthBody } from './health.js';
import type { VerifyResult } from '../log/verify.js';
import { authorize, EventStream, historyTarget, sendJson, startSse } from './api.js';
import { findDashboardDir, staticRoute } from './static.js';
import { itemsPage, itemsTarget, ItemsRequestError } from './items.js';
import { ChangeTimes, changedAtTarget } from './change-times.js';

export { OpsMetrics } from './metrics.js';
export { probeStore, Verifier, type HealthBody, type LivenessBody, type StoreProbe, type VerifyStatus } from './health.js';
export { staticRoute, findDashboardDir } from './static.js';

export interface OpsOptions {
  /** Whether this server is a cluster member (asked per request: cluster mode starts before listening). */
  cluster: () => boolean;
  /** The built dashboard (default: findDashboardDir()). */
  dashboardDir?: string;
  /** The result of `--verify-on-boot`, shown by /health and the dashboard. */
  bootVerify?: VerifyResult & { at: string };
}

/** What /api/stats sends once a second. */
export interface OpsStats {
  at: string;
  serverId: string;
  store: string;
  cluster: boolean;
  position: number;
  connections: number;
  liveQueries: number;
  liveViews: number;
  liveReports: number;
  eventsTotal: number;
  eventsPerSecond: number;
  uptimeSeconds: number;
  itemTypes: { name: string; count: number; persisted: boolean }[];
  verify: HealthBody['verify'];
  auth: boolean;
}

/**
 * Operations: /health, /metrics, the dashboard's API and the dashboard
 * itself. One per server, created in `listen()`; its routes go before the
 * dashboard's catch-all.
 */
export class Ops {
  readonly metrics: OpsMetrics;
  readonly verifier: Verifier;
  readonly events: EventStream;
  readonly changeTimes: ChangeTimes;
  readonly startedAt = Date.now();
  private sample = { t: performance.now(), total: 0, rate: 0 };

  constructor(
    private readonly ctx: ServerContext,
    private readonly opts: OpsOptions,
  ) {
    this.metrics = new OpsMetrics(ctx);
    this.metrics.attach();
    this.verifier = new Verifier(ctx, opts.bootVerify ?? null);
    this.events = new EventStream(ctx);
    this.changeTimes = new ChangeTimes(ctx);
  }

  /** Health, metrics and API routes, then the dashboard (which answers every other GET). */
  routes(): HttpRoute[] {
    return [this.healthRoute, this.metricsRoute, this.apiRoute, staticRoute(this.opts.dashboardDir ?? findDashboardDir())];
  }

  /**
   * `/health/live`: liveness, never probes the store (always 200 while the
   * process answers). `/health/ready`: readiness, the store probe (200 or
   * 503). `/health`: the same as `/health/ready`, kept for existing probes.
   */
  readonly healthRoute: HttpRoute = (_req, res, url) => {
    if (url.pathname === '/health/live') {
      sendJson(res, 200, liveness(this.ctx, this.startedAt));
      return true;
    }
    if (url.pathname !== '/health' && url.pathname !== '/health/ready') return false;
    health(this.ctx, this.verifier, this.opts.cluster(), this.startedAt).then(
      (body) => sendJson(res, body.ready ? 200 : 503, body),
      (err: Error) => sendJson(res, 503, { status: 'unready', ready: false, error: err.message }),
    );
    return true;
  };

  readonly metricsRoute: HttpRoute = (_req, res, url) => {
    if (url.pathname !== '/metrics') return false;
    this.metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
    );
    return true;
  };

  readonly apiRoute: HttpRoute = (req, res, url) => {
    if (!url.pathname.startsWith('/api/')) return false;
    void authorize(this.ctx, req, res, url).then(async (ok) => {
      if (!ok) return;
      try {
        await this.api(req.method ?? 'GET', url, req, res);
      } catch (err) {
        if (!res.headersSent) sendJson(res, 500, { code: 'MYKO_INTERNAL', message: (err as Error).message });
        else res.destroy();
      }
    });
    return true;
  };

  private async api(method: string, url: URL, req: Parameters<HttpRoute>[0], res: Parameters<HttpRoute>[1]): Promise<void> {
    const history = historyTarget(url);
    if (history === 'bad') return sendJson(res, 400, { code: 'MYKO_BAD_REQUEST', message: 'bad percent-encoding in the path' });
    if (history) {
      if (method !== 'GET') return sendJson(res, 405, { code: 'MYKO_BAD_REQUEST', message: 'GET only' });
      const events = await this.ctx.store.readHistory(history.itemType, history.id);
      const current = this.ctx.state.get(history.itemType, history.id) ?? null;
      return sendJson(res, 200, { itemType: history.itemType, id: history.id, persisted: this.ctx.registry.isPersistent(history.itemType), current, events });
    }
    const itemType = itemsTarget(url);
    if (itemType === 'bad') return sendJson(res, 400, { code: 'MYKO_BAD_REQUEST', message: 'bad percent-encoding in the path' });
    if (itemType) {
      if (method !== 'GET') return sendJson(res, 405, { code: 'MYKO_BAD_REQUEST', message: 'GET only' });
      try {
        return sendJson(res, 200, itemsPage(this.ctx.state, itemType, url));
      } catch (err) {
        if (err instanceof ItemsRequestError) return sendJson(res, 400, { code: 'MYKO_BAD_REQUEST', message: err.message });
        throw err;
      }
    }
    const changed = changedAtTarget(url);
    if (changed === 'bad') return sendJson(res, 400, { code: 'MYKO_BAD_REQUEST', message: 'bad percent-encoding in the path' });
    if (changed) {
      if (method !== 'GET') return sendJson(res, 405, { code: 'MYKO_BAD_REQUEST', message: 'GET only' });
      const ids = url.searchParams.get('ids');
      return sendJson(res, 200, this.changeTimes.answer(changed, ids === null ? undefined : ids.split(',').filter((s) => s !== '')));
    }
    switch (url.pathname) {
      case '/api/events':
        return this.events.open(req, res, url);
      case '/api/stats': {
        startSse(res);
        const tick = () => res.write(`data: ${JSON.stringify(this.stats())}\n\n`);
        tick();
        const timer = setInterval(tick, 1000);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/api/log-span': {
        // The time range the log covers: the dashboard's windback slider runs from the first event to now.
        const [first] = await this.ctx.store.readAfter(0, 1);
        return sendJson(res, 200, { first: first?.createdAt ?? null, now: new Date().toISOString(), position: this.ctx.writer.position });
      }
      case '/api/reactions':
        // Reactions (sagas) with position, lag and failures: the dashboard's reactions panel.
        return sendJson(res, 200, { reactions: this.ctx.reactions.status() });
      case '/api/verify':
        if (method !== 'POST') return sendJson(res, 405, { code: 'MYKO_BAD_REQUEST', message: 'POST to run the verifier' });
        return sendJson(res, 200, await this.verifier.verify());
      default:
        return sendJson(res, 404, { code: 'MYKO_NOT_FOUND', message: `no such endpoint: ${url.pathname}` });
    }
  }

  /** Events per second over the last second or more (shared by every stats subscriber). */
  private eventsPerSecond(): number {
    const now = performance.now();
    const total = this.metrics.eventsTotal;
    const dt = (now - this.sample.t) / 1000;
    if (dt >= 0.9) this.sample = { t: now, total, rate: (total - this.sample.total) / dt };
    return Math.round(this.sample.rate * 10) / 10;
  }

  stats(): OpsStats {
    const { ctx } = this;
    const itemTypes = [...ctx.state.itemTypes()]
      .map((name) => ({ name, count: ctx.state.count(name), persisted: ctx.registry.isPersistent(name) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      at: new Date().toISOString(),
      serverId: ctx.serverId,
      store: ctx.store.kind,
      cluster: this.opts.cluster(),
      position: ctx.writer.position,
      connections: ctx.connections.size,
      liveQueries: ctx.queries.size,
      liveViews: ctx.views.size,
      liveReports: ctx.reports.size,
      eventsTotal: this.metrics.eventsTotal,
      eventsPerSecond: this.eventsPerSecond(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      itemTypes,
      verify: this.verifier.status(),
      auth: ctx.auth !== undefined,
    };
  }
}
