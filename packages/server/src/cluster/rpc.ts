import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { PostgresEventStore } from '../store/postgres/index.js';
import { ClientCommandError, type Connection } from '../gateway/connection.js';
import { challengeConnection, OwnerChallengeCommand } from '../gateway/owner-challenge.js';

type Request = { kind: 'req'; corr: string; from: string; clientId: string; commandId: string; params: Record<string, unknown>; timeoutMs: number };
type Response = { kind: 'res'; corr: string; ok: boolean; response?: unknown; code?: string; message?: string };

/**
 * Commands for a client connected to another member (e.g. ExecTargetAction
 * for an executor on server B, sent by a controller on server A). The request
 * is a row in `myko_rpc` addressed to the member, announced by NOTIFY; the
 * member sends the command on the client's socket and answers the same way.
 * A table rather than the NOTIFY payload: commands carry whole Actions with
 * their schemas, and NOTIFY payloads stop at 8000 bytes.
 */
export class ClusterRpc {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly store: PostgresEventStore,
    private readonly connections: Map<string, Connection>,
    private readonly log: Logger,
  ) {}

  call(serverId: string, clientId: string, commandId: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const corr = randomUUID();
    return new Promise((resolve, reject) => {
      // The member applies its own timeout; ours adds a margin for the round trip.
      const timer = setTimeout(() => {
        this.pending.delete(corr);
        reject(new ClientCommandError(`${commandId} to client ${clientId} (on server ${serverId}) timed out after ${timeoutMs} ms`, 'MYKO_TIMEOUT'));
      }, timeoutMs + 1000);
      this.pending.set(corr, { resolve, reject, timer });
      const body: Request = { kind: 'req', corr, from: this.store.serverId, clientId, commandId, params, timeoutMs };
      this.send(serverId, body).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(corr);
        reject(new ClientCommandError(`cannot reach server ${serverId}: ${err.message}`, 'MYKO_STORE_FAILED'));
      });
    });
  }

  /** NOTIFY payload `serverId:rowId` on the rpc channel. */
  onNotify(payload: string): void {
    const i = payload.lastIndexOf(':');
    if (payload.slice(0, i) !== this.store.serverId) return;
    const id = Number(payload.slice(i + 1));
    this.store.pool
      .query(`DELETE FROM myko_rpc WHERE id = $1 RETURNING body`, [id])
      .then((res) => {
        const body = res.rows[0]?.body as Request | Response | undefined;
        if (body?.kind === 'req') this.serve(body);
        else if (body?.kind === 'res') this.settle(body);
      })
      .catch((err: Error) => this.log.warn({ err: err.message }, 'cluster rpc read failed'));
  }

  stop(): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('server stopping'));
    }
    this.pending.clear();
  }

  private serve(req: Request): void {
    const conn = this.connections.get(req.clientId);
    const answer = (r: Omit<Response, 'kind' | 'corr'>) =>
      void this.send(req.from, { kind: 'res', corr: req.corr, ...r }).catch((err: Error) => this.log.warn({ err: err.message }, 'cluster rpc answer failed'));
    if (!conn) return answer({ ok: false, code: 'MYKO_CLIENT_GONE', message: `client ${req.clientId} is not connected to server ${this.store.serverId}` });
    // Another member's owner challenge (gateway/owner-challenge.ts): answered here, never sent to the client.
    if (req.commandId === OwnerChallengeCommand) {
      const ms = typeof req.params.challengeMs === 'number' ? req.params.challengeMs : 2000;
      return void challengeConnection(conn, ms, this.log).then((retired) => answer({ ok: true, response: { retired } }));
    }
    conn.request(req.commandId, req.params, req.timeoutMs).then(
      (response) => answer({ ok: true, response }),
      (err: Error & { code?: string }) => answer({ ok: false, code: err.code ?? 'MYKO_COMMAND_FAILED', message: err.message }),
    );
  }

  private settle(res: Response): void {
    const p = this.pending.get(res.corr);
    if (!p) return;
    this.pending.delete(res.corr);
    clearTimeout(p.timer);
    if (res.ok) p.resolve(res.response);
    else p.reject(new ClientCommandError(res.message ?? 'command failed', res.code ?? 'MYKO_COMMAND_FAILED'));
  }

  private async send(serverId: string, body: Request | Response): Promise<void> {
    const res = await this.store.pool.query(`INSERT INTO myko_rpc (to_server, body) VALUES ($1, $2) RETURNING id`, [serverId, JSON.stringify(body)]);
    await this.store.notify(this.store.channels.rpc, `${serverId}:${res.rows[0].id}`);
  }
}
