import type { ServerContext } from '../context.js';
import type { Origin } from '../core/normalize.js';
import type { EventInput } from '../core/registry.js';
import type { StoredEvent } from '../store/event-store.js';
import { ErrorCode } from '@myko/protocol';
import { EventRejected } from '../core/normalize.js';
import { OwnerConflict } from '../security/authorize.js';
import type { Connection } from './connection.js';
import { probe } from './heartbeat.js';
import type { Logger } from '../logger.js';

/**
 * The owner challenge (WIRE.md 6.7). An executor whose network died without a
 * FIN reconnects on a new socket and registers again while this server still
 * holds its old socket, so its items still belong to that old connection and
 * the write is refused (MYKO_FORBIDDEN). Executors never retry a refused
 * registration. So instead of refusing at once:
 *
 *   new conn: events ─ admit ─ OwnerConflict(owner on this server)?
 *        │ hold this and every later event of the connection, in frame order
 *        ▼
 *   ping the owner ── answers within ownerChallengeMs ─▶ refuse (MYKO_FORBIDDEN, as before)
 *        │ silent
 *        ▼
 *   terminate it ─▶ its retirement (statuses offline, Client deleted) commits
 *        ▼
 *   admit the held events again, commit them, then the later ones
 *
 * Guarantees:
 * - Frame order per connection holds: a held submission keeps `pendingWrites`
 *   up (queries, commands wait: read-your-writes), and later event frames
 *   queue behind it rather than overtaking it.
 * - The old connection's retirement is committed before the new events: a
 *   late retirement can never mark the re-registered TargetStatus offline.
 * - One challenge per owner at a time, shared by every writer that hits it;
 *   an owner that just answered is not pinged again for a while (refused at once).
 * - An owner connected to another cluster member is challenged there: the
 *   command `myko:owner-challenge` goes through the cluster rpc
 *   (cluster/rpc.ts answers it with `challengeConnection` instead of sending it
 *   to the client), and the held events wait until the owner's retirement
 *   reaches this member's state. A member that does not know the command
 *   forwards it to the client, which ignores it: the write is refused as before.
 */
export class OwnerChallenges {
  /** Per connection: settles once its held submissions (and those queued behind them) are done. */
  private readonly held = new WeakMap<Connection, Promise<void>>();
  /** A challenge in flight per owner: true once the owner is retired. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** Owners that answered a challenge, and when: refused without a new ping for `recentMs`. */
  private readonly answered = new Map<string, number>();
  /** Clients whose Client item is being awaited (deleted by a retirement in flight). */
  private readonly goneWaiters = new Map<string, (() => void)[]>();

  constructor(private readonly ctx: ServerContext) {
    ctx.writer.listeners.push((changes) => {
      if (this.goneWaiters.size === 0) return;
      for (const c of changes)
        if (c.itemType === 'Client' && c.next === undefined) for (const w of this.goneWaiters.get(c.id)?.splice(0) ?? []) w();
    });
  }

  private get recentMs(): number {
    return Math.max(this.ctx.config.ownerChallengeMs, 1000);
  }

  /** `ctx.emit` for a client connection's events, with the challenge. */
  submit(conn: Connection, events: readonly EventInput[], origin: Origin): Promise<StoredEvent[]> {
    const tail = this.held.get(conn);
    if (!tail) return this.attempt(conn, events, origin, 0);
    const p = tail.then(() => this.attempt(conn, events, origin, 0));
    this.hold(conn, p);
    return p;
  }

  private attempt(conn: Connection, events: readonly EventInput[], origin: Origin, round: number): Promise<StoredEvent[]> {
    // Held events of a connection that closed meanwhile are dropped: its retirement has run already, and
    // items written now in its name (statuses online) would belong to a client that is gone.
    if (conn.closed) return Promise.reject(new EventRejected('the connection closed before its held events could be applied', undefined, ErrorCode.Forbidden));
    try {
      return this.ctx.writer.submit(this.ctx.admit(events, origin));
    } catch (err) {
      // A batch may touch items of several dead owners: one round each, bounded.
      if (!(err instanceof OwnerConflict) || round >= 8) return Promise.reject(err);
      const challenge = this.challenge(err.owner);
      if (!challenge) return Promise.reject(err);
      const p = challenge.then((retired) => (retired ? this.attempt(conn, events, origin, round + 1) : Promise.reject(err)));
      this.hold(conn, p);
      return p;
    }
  }

  private hold(conn: Connection, p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.held.set(conn, settled);
    void settled.then(() => {
      if (this.held.get(conn) === settled) this.held.delete(conn);
    });
  }

  /** Undefined when the owner is not one this server may challenge (off, another member's, answered lately). */
  private challenge(owner: string): Promise<boolean> | undefined {
    const ms = this.ctx.config.ownerChallengeMs;
    if (ms <= 0) return undefined;
    const existing = this.inFlight.get(owner);
    if (existing) return existing;
    const at = this.answered.get(owner);
    if (at !== undefined && Date.now() - at < this.recentMs) return undefined;
    this.answered.delete(owner);
    const conn = this.ctx.connections.get(owner);
    const client = conn ? undefined : this.ctx.state.get('Client', owner);
    let run: Promise<boolean>;
    if (conn) run = this.challengeLocal(conn, ms);
    else if (client && client.protocol === undefined && client.serverId !== this.ctx.serverId) {
      if (this.ctx.locateClient(owner)?.serverId !== client.serverId) return undefined;
      run = this.challengeRemote(owner, ms);
    } else {
      // A Myko connection of ours that closed, its retirement not yet committed (its Client item is still
      // there): wait for it. `/models` and `/eventrpc` clients (Client.protocol set) are never in
      // ctx.connections: a live one is refused at once rather than after a wait.
      if (!client || client.serverId !== this.ctx.serverId || client.protocol !== undefined) return undefined;
      run = this.clientGone(owner, ms);
    }
    run = run.finally(() => this.inFlight.delete(owner));
    this.inFlight.set(owner, run);
    return run;
  }

  private async challengeLocal(conn: Connection, ms: number): Promise<boolean> {
    if (!(await challengeConnection(conn, ms, this.ctx.log))) {
      this.answered.set(conn.clientId, Date.now());
      this.trimAnswered();
      return false;
    }
    return this.ctx.state.get('Client', conn.clientId) === undefined;
  }

  /** The owner's member challenges it; its retirement then reaches our state through the shared log. */
  private async challengeRemote(owner: string, ms: number): Promise<boolean> {
    let retired = false;
    try {
      const res = (await this.ctx.sendToClient(owner, OwnerChallengeCommand, { challengeMs: ms }, { timeoutMs: ms + 2000 })) as { retired?: unknown } | null;
      retired = res?.retired === true;
    } catch (err) {
      this.ctx.log.warn({ clientId: owner, err: (err as Error).message }, 'owner challenge through the cluster failed: refusing the write');
    }
    if (!retired) {
      this.answered.set(owner, Date.now());
      this.trimAnswered();
      return false;
    }
    return this.clientGone(owner, ms + 2000);
  }

  private clientGone(clientId: string, ms: number): Promise<boolean> {
    if (this.ctx.state.get('Client', clientId) === undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (gone: boolean) => {
        clearTimeout(timer);
        const list = this.goneWaiters.get(clientId);
        if (list) {
          const i = list.indexOf(yes);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0) this.goneWaiters.delete(clientId);
        }
        resolve(gone);
      };
      const yes = () => done(true);
      const timer = setTimeout(() => done(this.ctx.state.get('Client', clientId) === undefined), ms);
      const list = this.goneWaiters.get(clientId) ?? [];
      list.push(yes);
      this.goneWaiters.set(clientId, list);
    });
  }

  private trimAnswered(): void {
    if (this.answered.size < 1000) return;
    const now = Date.now();
    for (const [id, at] of this.answered) if (now - at >= this.recentMs) this.answered.delete(id);
  }
}

/** The cluster rpc command that asks the member holding `clientId` to challenge it. */
export const OwnerChallengeCommand = 'myko:owner-challenge';

/**
 * Ping `conn`; if it says nothing within `ms`, terminate it and wait until its retirement is committed.
 * True when it was retired, false when it answered.
 */
export async function challengeConnection(conn: Connection, ms: number, log: Logger): Promise<boolean> {
  if (await probe(conn.ws, ms)) return false;
  log.warn({ clientId: conn.clientId, challengeMs: ms }, 'owner challenge unanswered: retiring the connection so its items can be claimed');
  conn.ws.terminate();
  await conn.retired;
  return true;
}
