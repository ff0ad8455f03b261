// fast-deep-equal threw on objects with a member named toString or valueOf (see json-equal.ts).
import { jsonEqual as equal } from '../core/json-equal.js';
import type { Registry, ReportDef } from '../core/registry.js';
import type { Change, StateReader } from '../core/state.js';
import type { Subscriber } from './subscriber.js';
import { ByConnection } from './by-connection.js';
import { reportErrorFrame, reportResponseFrame } from '../wire/frames.js';
import { PinnedStates } from './pinned-states.js';

export class ReportError extends Error {
  override name = 'ReportError';
}

interface ReportSub {
  conn: Subscriber;
  tx: string;
  def: ReportDef;
  params: Record<string, unknown>;
  deps: readonly string[];
  last: unknown;
  /** A newer value exists that the congested connection has not been sent yet. */
  stale: boolean;
}

/**
 * Live reports: a value computed from state, recomputed only when an item
 * type it depends on changed in a committed batch, and sent only when the
 * value differs from the last one sent. A congested connection gets the latest
 * value when it drains, never a queue of old ones.
 */
export class LiveReports {
  private readonly byType = new Map<string, Set<ReportSub>>();
  private readonly subs = new ByConnection<ReportSub>();

  constructor(
    private readonly state: StateReader,
    private readonly registry: Registry,
    /** Wound-back connections answer from their own state and get no live updates (live/windback.ts). */
    private readonly pins = new PinnedStates(),
  ) {}

  /**
   * Recompute every live report of `conn` from the state it reads now (pinned or live). A report has no
   * sequence: a value equal to the one the client holds is not sent again.
   */
  restate(conn: Subscriber): void {
    for (const sub of this.subs.of(conn)) this.recompute(sub);
  }

  get size(): number {
    return this.subs.size;
  }

  countFor(conn: Subscriber): number {
    return this.subs.countFor(conn);
  }

  has(conn: Subscriber, tx: string): boolean {
    return this.subs.has(conn, tx);
  }

  subscribe(conn: Subscriber, tx: string, reportId: string, params: Record<string, unknown>): void {
    const def = this.registry.report(reportId);
    if (!def) throw new ReportError(`unknown report ${reportId}`);
    let deps: readonly string[];
    let value: unknown;
    try {
      deps = def.dependsOn(params);
      value = def.compute(params, this.pins.get(conn) ?? this.state, { clientId: conn.clientId });
    } catch (err) {
      throw new ReportError(`${reportId}: ${(err as Error).message}`);
    }
    const sub: ReportSub = { conn, tx, def, params, deps, last: value, stale: false };
    if (isThenable(value)) {
      // A report read from the log (e.g. TransactionUndoPlan): answered once it resolves, if still watched.
      sub.last = undefined;
      value.then(
        (v) => {
          if (this.subs.get(conn, tx) !== sub) return;
          sub.last = v;
          this.deliver(sub);
        },
        (err: Error) => {
          if (this.subs.get(conn, tx) === sub) conn.send(() => reportErrorFrame(tx, def.id, `${reportId}: ${err.message}`));
        },
      );
    }
    this.subs.add(conn, tx, sub);
    for (const t of deps) {
      let set = this.byType.get(t);
      if (!set) this.byType.set(t, (set = new Set()));
      set.add(sub);
    }
    if (!isThenable(value)) conn.send(() => reportResponseFrame(conn.dialect, tx, value));
  }

  cancel(conn: Subscriber, tx: string): boolean {
    const sub = this.subs.get(conn, tx);
    if (!sub) return false;
    this.subs.delete(conn, tx);
    this.unindex(sub);
    return true;
  }

  dropConnection(conn: Subscriber): void {
    for (const sub of this.subs.drop(conn)) this.unindex(sub);
  }

  onChanges(changes: readonly Change[]): void {
    const affected = new Set<ReportSub>();
    for (const c of changes) for (const sub of this.byType.get(c.itemType) ?? []) if (!this.pins.has(sub.conn)) affected.add(sub);
    for (const sub of affected) this.recompute(sub);
  }

  private recompute(sub: ReportSub): void {
    let value: unknown;
    try {
      value = sub.def.compute(sub.params, this.pins.get(sub.conn) ?? this.state, { clientId: sub.conn.clientId });
    } catch (err) {
      sub.conn.send(() => reportErrorFrame(sub.tx, sub.def.id, (err as Error).message));
      return;
    }
    if (isThenable(value)) return; // asynchronous reports are computed once, when subscribed (ReportDef.compute)
    if (equal(value, sub.last) && !sub.stale) return;
    sub.last = value;
    this.deliver(sub);
  }

  private deliver(sub: ReportSub): void {
    if (sub.conn.congested()) {
      if (!sub.stale) {
        sub.stale = true;
        sub.conn.onDrain(() => {
          if (!this.subs.has(sub.conn, sub.tx)) return;
          sub.stale = false;
          this.deliver(sub);
        });
      }
      return;
    }
    sub.stale = false;
    const value = sub.last;
    sub.conn.send(() => reportResponseFrame(sub.conn.dialect, sub.tx, value));
  }

  private unindex(sub: ReportSub): void {
    for (const t of sub.deps) this.byType.get(t)?.delete(sub);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
