import { ErrorCode } from '@myko/protocol';
import type { ServerContext } from '../context.js';
import type { StateReader } from '../core/state.js';
import { EventRejected, type Origin } from '../core/normalize.js';
import { historicState } from '../log/historic-state.js';
import type { PinnedStates } from './pinned-states.js';

/**
 * Windback (WIRE.md 6.5, `SetClientWindbackTime {windback}`): one client
 * looks at the past. Its live queries, views and reports answer again from
 * the state at that time (rebuilt from the log, as `asOf: {time}` does: the
 * events whose createdAt ≤ the time, in log order), each with a fresh
 * sequence 0, and then hold still: later commits do not reach them. New
 * queries it starts meanwhile answer from the same past state. Its writes
 * are refused with MYKO_WOUND_BACK. `ClearClientWindbackTime` answers them
 * all again from live state, sequence 0, and live diffs resume. Other
 * clients are not touched.
 *
 * The time is kept on the client's `Client` item (`windback`), which is what
 * refuses its writes; the pinned state lives as long as the connection.
 * Non-persistent types (e.g. Pulse) are not in the log, so the past has none.
 */
export class Windback {
  /** The latest request per client: a slower rebuild for an older time must not win over a newer one. */
  private readonly latest = new Map<string, number>();
  private seq = 0;

  constructor(
    private readonly ctx: () => ServerContext,
    private readonly pins: PinnedStates,
  ) {}

  /** Wind `clientId`'s live results back to `time` (ISO 8601); resolves once they were answered again. */
  async set(clientId: string, time: string): Promise<void> {
    const ctx = this.ctx();
    // Only /myko connections have live results here (another endpoint's client keeps the time only): no rebuild for them.
    if (!ctx.connections.has(clientId)) return;
    const mine = ++this.seq;
    this.latest.set(clientId, mine);
    const past = await historicState(ctx.store, { time });
    const conn = ctx.connections.get(clientId);
    if (!conn || this.latest.get(clientId) !== mine) return;
    this.pin(conn, past);
  }

  /** Back to live state. */
  clear(clientId: string): void {
    const ctx = this.ctx();
    this.latest.set(clientId, ++this.seq);
    const conn = ctx.connections.get(clientId);
    if (!conn) return;
    this.pins.delete(conn);
    this.restate(conn);
    this.latest.delete(clientId);
  }

  private pin(conn: Parameters<PinnedStates['set']>[0], state: StateReader): void {
    this.pins.set(conn, state);
    this.restate(conn);
  }

  private restate(conn: Parameters<PinnedStates['set']>[0]): void {
    const ctx = this.ctx();
    ctx.queries.restate(conn);
    ctx.views.restate(conn);
    ctx.reports.restate(conn);
  }
}

/** The windback time of a client (its Client item's `windback`), or undefined when it is live. */
export function windbackOf(state: StateReader, clientId: string): string | undefined {
  const w = state.get('Client', clientId)?.windback;
  return typeof w === 'string' ? w : undefined;
}

/**
 * Every write from a client passes here (ServerContext.emit): a wound-back
 * client's events, and what commands it runs write on its behalf, are
 * refused with MYKO_WOUND_BACK. Server code (no clientId) is not.
 */
export function refuseWhileWoundBack(state: StateReader, origin: Origin): void {
  if (origin.clientId === undefined) return;
  const w = windbackOf(state, origin.clientId);
  if (w === undefined) return;
  throw new EventRejected(
    `client ${origin.clientId} is wound back to ${w}: it may not write until ClearClientWindbackTime`,
    undefined,
    ErrorCode.WoundBack,
  );
}
