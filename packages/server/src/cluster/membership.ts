import type { MItem } from '@myko/protocol';
import type { Logger } from '../logger.js';
import type { ServerContext } from '../context.js';
import type { PostgresEventStore } from '../store/postgres/index.js';
import { LockKey } from '../store/postgres/open.js';
import { retireEvents } from '../lifecycle/clients.js';

export interface MemberInfo {
  address: string;
  port: number;
  version: string;
  startedAt: string;
}

/**
 * Who is in the cluster. Each member heartbeats a row of `myko_members`
 * every second and publishes a `Server {id, address, port, startedAt,
 * version}` item. One member at a time (an advisory lock) reaps: a member
 * silent for `deadAfterMs` is removed, its `Server` item deleted and its
 * clients retired with what they owned (an executor's targets go offline),
 * exactly as if they had disconnected.
 */
export class Membership {
  private heartbeat: NodeJS.Timeout | undefined;
  private reaper: NodeJS.Timeout | undefined;
  private live = new Set<string>();
  private info: MemberInfo | undefined;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly ctx: ServerContext,
    private readonly log: Logger,
    private readonly deadAfterMs = 5000,
  ) {}

  isLive(serverId: string): boolean {
    return serverId === this.store.serverId || this.live.has(serverId);
  }

  async start(info: MemberInfo): Promise<void> {
    this.info = info;
    await this.beat();
    await this.ctx.emit([{ itemType: 'Server', changeType: 'SET', item: { id: this.store.serverId, ...this.info } }], { serverId: this.store.serverId });
    await this.reap();
    this.heartbeat = setInterval(() => void this.beat().catch((err: Error) => this.log.warn({ err: err.message }, 'heartbeat failed')), 1000);
    this.reaper = setInterval(() => void this.reap().catch((err: Error) => this.log.warn({ err: err.message }, 'reaping failed')), 2000);
    this.heartbeat.unref();
    this.reaper.unref();
  }

  /** Graceful leave: the Server item goes, then the row. */
  async stop(): Promise<void> {
    if (!this.info) return;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reaper) clearInterval(this.reaper);
    await this.ctx
      .emit([{ itemType: 'Server', changeType: 'DEL', item: { id: this.store.serverId } }], { serverId: this.store.serverId })
      .catch(() => undefined);
    await this.store.pool.query(`DELETE FROM myko_members WHERE server_id = $1`, [this.store.serverId]).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    const info = this.info!;
    await this.store.pool.query(
      `INSERT INTO myko_members (server_id, address, port, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (server_id) DO UPDATE SET heartbeat_at = now()`,
      [this.store.serverId, info.address, info.port, info.version, info.startedAt],
    );
    const res = await this.store.pool.query(
      `SELECT server_id FROM myko_members WHERE heartbeat_at > now() - make_interval(secs => $1)`,
      [this.deadAfterMs / 1000],
    );
    this.live = new Set(res.rows.map((r) => r.server_id as string));
  }

  private async reap(): Promise<void> {
    const client = await this.store.pool.connect();
    let dead: string[] = [];
    try {
      await client.query('BEGIN');
      const lock = await client.query('SELECT pg_try_advisory_xact_lock($1) AS ok', [LockKey.reaper]);
      if (!lock.rows[0].ok) {
        await client.query('ROLLBACK');
        return;
      }
      const res = await client.query(
        `DELETE FROM myko_members WHERE heartbeat_at <= now() - make_interval(secs => $1) RETURNING server_id`,
        [this.deadAfterMs / 1000],
      );
      const live = await client.query(`SELECT server_id FROM myko_members`);
      await client.query('COMMIT');
      dead = res.rows.map((r) => r.server_id as string);
      this.live = new Set(live.rows.map((r) => r.server_id as string));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    // Also anything whose member row is gone (a member that died while being reaped, or before this one started).
    const orphan = (item: MItem, field: string) => typeof item[field] === 'string' && !this.isLive(item[field] as string);
    const clients = [...this.ctx.state.all('Client')].filter((c) => orphan(c, 'serverId'));
    const servers = [...this.ctx.state.all('Server')].filter((s) => orphan(s, 'id'));
    if (clients.length === 0 && servers.length === 0) return;
    const events = [
      ...clients.flatMap((c) => retireEvents(this.ctx, c.id)),
      ...servers.map((s) => ({ itemType: 'Server', changeType: 'DEL' as const, item: { id: s.id } })),
    ];
    this.log.info({ dead, clients: clients.length, servers: servers.length }, 'reaped departed cluster members');
    await this.ctx.emit(events, { serverId: this.store.serverId });
  }
}
