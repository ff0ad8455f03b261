import type { Logger } from '../logger.js';
import type { ServerContext } from '../context.js';
import type { NewEvent } from '../store/event-store.js';
import type { PostgresEventStore } from '../store/postgres/index.js';
import type { ClusterLink } from '../core/writer.js';
import { Tailer } from './tailer.js';
import { ClusterRpc } from './rpc.js';
import { Membership, type MemberInfo } from './membership.js';
import { OrderedPublisher } from './ordered-publisher.js';

/** NOTIFY payloads stop at 8000 bytes; stay well below. */
const maxNotifyBytes = 7500;

/**
 * Cluster mode, wired together: the tailer applies the shared log, ephemeral
 * events (pulses) travel by NOTIFY without touching the table, commands reach
 * clients on other members through ClusterRpc, and Membership keeps the
 * `Server` items and reaps members that died.
 *
 * Why PostgreSQL NOTIFY for ephemeral events rather than NATS: the cluster
 * already depends on PostgreSQL, and NOTIFY delivers to every listening
 * member without a second service to run, secure and monitor. Its limits fit
 * momentary values: best-effort delivery to connected members (a member that
 * reconnects has missed the pulses in between, and gets the next ones), and
 * 8000-byte payloads (a single ephemeral event above ~7.5 KB stays on the
 * member that received it, with a warning in its log).
 */
export class Cluster implements ClusterLink {
  readonly tailer: Tailer;
  readonly rpc: ClusterRpc;
  readonly membership: Membership;

  /** Ephemeral batches go out one after another, so other members apply them in this member's order. */
  private readonly ephemeral: OrderedPublisher<NewEvent>;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly ctx: ServerContext,
    private readonly log: Logger,
  ) {
    this.ephemeral = new OrderedPublisher<NewEvent>(
      (events) => store.notify(store.channels.ephemeral, JSON.stringify({ src: store.serverId, events })),
      maxNotifyBytes,
      (err) => log.warn({ err: err.message }, 'publishing ephemeral events failed'),
    );
    this.tailer = new Tailer(store, ctx.writer, log);
    this.rpc = new ClusterRpc(store, ctx.connections, log);
    this.membership = new Membership(store, ctx, log);
  }

  /** After boot: tail from where boot stopped and catch up with the shared log (before serving). */
  async start(bootPosition: number): Promise<void> {
    this.tailer.start(bootPosition);
    await this.store.listen(
      (channel, payload) => {
        if (channel === this.store.channels.events) this.tailer.onNotify(payload);
        else if (channel === this.store.channels.ephemeral) this.onEphemeral(payload);
        else if (channel === this.store.channels.rpc) this.rpc.onNotify(payload);
      },
      () => this.tailer.wake(),
    );
    this.ctx.writer.cluster = this;
    this.tailer.wake();
    await this.tailer.catchUp(await this.store.lastPosition());
  }

  /** Once serving: publish this member and start heartbeats and reaping. */
  join(info: MemberInfo): Promise<void> {
    return this.membership.start(info);
  }

  async stop(): Promise<void> {
    await this.membership.stop();
    this.tailer.stop();
    this.rpc.stop();
  }

  catchUp(position: number): Promise<void> {
    return this.tailer.catchUp(position);
  }

  publishEphemeral(events: readonly NewEvent[]): void {
    for (const e of events) {
      // The payload is {"src":…,"events":[…]}: each event's JSON and a comma.
      const bytes = Buffer.byteLength(JSON.stringify(e)) + 1;
      if (bytes > maxNotifyBytes) {
        this.log.warn({ itemType: e.itemType, id: e.item.id, bytes }, 'ephemeral event too large for NOTIFY: not shared with other members');
        continue;
      }
      this.ephemeral.push(e, bytes);
    }
  }

  private onEphemeral(payload: string): void {
    let msg: { src?: string; events?: NewEvent[] };
    try {
      msg = JSON.parse(payload) as typeof msg;
    } catch {
      return;
    }
    if (msg.src === this.store.serverId || !Array.isArray(msg.events)) return;
    void this.ctx.writer.submit(msg.events, { remote: true }).catch(() => undefined);
  }
}
