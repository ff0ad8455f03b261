import { Kind, type ReportErrorData, type ReportResponseData } from '@myko/protocol';
import type { WireFrame } from './codec.js';
import { ReportError } from './errors.js';
import { randomId } from './ids.js';
import { LiveHandle, safely, type Listener } from './live.js';
import { reportKey, type ReportSpec } from './query-spec.js';

/** One server report subscription (one tx), shared by every watcher of an equal spec. */
class SharedReport {
  readonly listeners = new Set<Listener<unknown>>();
  /** The last value the server sent; `has` tells apart "none yet" from an undefined value. */
  value: unknown;
  has = false;

  constructor(
    readonly tx: string,
    readonly key: string,
    readonly spec: ReportSpec,
  ) {}

  frame(): WireFrame {
    return { event: Kind.Report, data: { reportId: this.spec.reportId, report: { ...this.spec.params, tx: this.tx } } };
  }
}

/**
 * Every live report of one client. As for queries: shared by key, routed by
 * tx, all re-sent with their original tx when a new socket opens. A report
 * value is whole each time (no diffs), so a re-sent report simply delivers
 * its current value again.
 */
export class LiveReports {
  private readonly byKey = new Map<string, SharedReport>();
  private readonly byTx = new Map<string, SharedReport>();

  constructor(private readonly sendIfOpen: (frame: WireFrame) => void) {}

  get size(): number {
    return this.byTx.size;
  }

  watch<R>(spec: ReportSpec<R>): LiveReport<R> {
    return new LiveReport<R>(this, { reportId: spec.reportId, params: { ...spec.params } });
  }

  attach<R>(spec: ReportSpec<R>, l: Listener<R>): () => void {
    const key = reportKey(spec);
    let sub = this.byKey.get(key);
    if (!sub) {
      sub = new SharedReport(randomId(), key, spec);
      this.byKey.set(key, sub);
      this.byTx.set(sub.tx, sub);
      this.sendIfOpen(sub.frame());
    }
    const s = sub;
    const listener = l as Listener<unknown>;
    s.listeners.add(listener);
    if (s.has) l.next(s.value as R);
    return () => {
      if (!s.listeners.delete(listener) || s.listeners.size > 0 || this.byTx.get(s.tx) !== s) return;
      this.forget(s);
      this.sendIfOpen({ event: Kind.ReportCancel, data: { tx: s.tx } });
    };
  }

  onResponse(d: ReportResponseData): void {
    const sub = this.byTx.get(d.tx);
    if (!sub) return;
    sub.value = d.response;
    sub.has = true;
    for (const l of sub.listeners) safely(() => l.next(d.response));
  }

  onError(d: ReportErrorData): void {
    const sub = this.byTx.get(d.tx);
    if (!sub) return;
    this.forget(sub);
    const err = new ReportError(d.message, d.reportId || sub.spec.reportId, d.tx);
    for (const l of [...sub.listeners]) safely(() => l.error(err));
    sub.listeners.clear();
  }

  onOpen(): void {
    for (const sub of this.byTx.values()) this.sendIfOpen(sub.frame());
  }

  closeAll(): void {
    for (const sub of this.byTx.values()) for (const l of [...sub.listeners]) safely(() => l.end());
    this.byTx.clear();
    this.byKey.clear();
  }

  private forget(sub: SharedReport): void {
    this.byTx.delete(sub.tx);
    if (this.byKey.get(sub.key) === sub) this.byKey.delete(sub.key);
  }
}

/** A watched report: its value now and on every change, as callbacks or an async iterator. */
export class LiveReport<R = unknown> extends LiveHandle<R> {
  protected readonly conflate = true;

  constructor(
    private readonly registry: LiveReports,
    readonly spec: ReportSpec<R>,
  ) {
    super();
  }

  protected attach(l: Listener<R>): () => void {
    return this.registry.attach(this.spec, l);
  }
}
