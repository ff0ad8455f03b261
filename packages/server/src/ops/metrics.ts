import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerContext } from '../context.js';
import type { Change } from '../core/state.js';
import type { StoredEvent } from '../store/event-store.js';
import { benchmarkCounts } from '../gateway/benchmark.js';
import { registerReactionMetrics } from '../reactions/metrics.js';

/**
 * Prometheus metrics of one server (prom-client), on a registry of its own so
 * several servers in one process (tests) do not collide. Process metrics
 * (CPU, memory, event-loop lag, GC) are on one shared registry per process.
 *
 * Cost on the hot path: one counter increment per committed batch, two
 * `performance.now()` calls per store append and per live-query flush. Gauges
 * (connections, live queries, buffered bytes, item counts) are computed only
 * when /metrics is scraped.
 */

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** Seconds; a diff or an append on the embedded store takes tens of microseconds to a few milliseconds. */
const latencyBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class OpsMetrics {
  readonly registry = new Registry();
  readonly events: Counter<'kind'>;
  readonly diffLatency: Histogram;
  readonly eventToDiff: Histogram;
  readonly storeAppend: Histogram;
  /** Total committed events (persisted + ephemeral) for the events/s figure of the dashboard. */
  eventsTotal = 0;
  private applyStart = 0;

  constructor(private readonly ctx: ServerContext) {
    const registers = [this.registry];
    this.events = new Counter({
      name: 'myko_events_total',
      help: 'Committed events: kind="persisted" were written to the log, kind="ephemeral" (e.g. Pulse) were applied without it',
      labelNames: ['kind'],
      registers,
    });
    this.events.inc({ kind: 'persisted' }, 0);
    this.events.inc({ kind: 'ephemeral' }, 0);
    this.diffLatency = new Histogram({
      name: 'myko_diff_latency_seconds',
      help: 'From a committed batch being applied to its live-query diffs written to the sockets, per batch that changed state',
      buckets: latencyBuckets,
      registers,
    });
    this.eventToDiff = new Histogram({
      name: 'myko_event_to_diff_seconds',
      help: 'From the earliest event of a batch being accepted (decoded, validated, handed to the writer) to its live-query diffs written to the sockets: queueing, the durable commit, reduction and diffing; per batch this server committed that changed state (embedded store)',
      // Finer than the others between 0.1 and 30 ms, where the < 1 ms aim and fan-out to many watchers fall.
      buckets: [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.storeAppend = new Histogram({
      name: 'myko_store_append_seconds',
      help: 'Time of one store append (one transaction per batch)',
      labelNames: [],
      buckets: latencyBuckets,
      registers,
    });
    const conns = () => ctx.connections.values();
    new Gauge({
      name: 'myko_connections',
      help: 'Open Myko WebSocket connections on this server',
      registers,
      collect() {
        this.set(ctx.connections.size);
      },
    });
    new Gauge({
      name: 'myko_live_queries',
      help: 'Live queries held on this server',
      registers,
      collect() {
        this.set(ctx.queries.size);
      },
    });
    new Gauge({
      name: 'myko_live_views',
      help: 'Live views held on this server',
      registers,
      collect() {
        this.set(ctx.views.size);
      },
    });
    new Gauge({
      name: 'myko_live_reports',
      help: 'Live reports held on this server',
      registers,
      collect() {
        this.set(ctx.reports.size);
      },
    });
    new Gauge({
      name: 'myko_send_buffered_bytes',
      help: 'Bytes written to Myko sockets and not yet sent (sum of bufferedAmount over connections)',
      registers,
      collect() {
        let n = 0;
        for (const c of conns()) n += c.ws.bufferedAmount;
        this.set(n);
      },
    });
    new Gauge({
      name: 'myko_send_buffered_bytes_max',
      help: 'The largest bufferedAmount of any one Myko connection',
      registers,
      collect() {
        let n = 0;
        for (const c of conns()) n = Math.max(n, c.ws.bufferedAmount);
        this.set(n);
      },
    });
    // Counters read at scrape time from gateway/benchmark.ts (the endpoint counts without knowing of metrics).
    new Counter({
      name: 'myko_benchmark_frames_total',
      help: 'ws:m:benchmark frames received on /myko (load-test traffic of the reference client; never answered)',
      registers,
      collect() {
        this.reset();
        this.inc(benchmarkCounts(ctx).frames);
      },
    });
    new Counter({
      name: 'myko_benchmark_bytes_total',
      help: 'Bytes of the ws:m:benchmark frames received on /myko',
      registers,
      collect() {
        this.reset();
        this.inc(benchmarkCounts(ctx).bytes);
      },
    });
    new Gauge({
      name: 'myko_log_position',
      help: 'Position of the last event applied from the log',
      registers,
      collect() {
        this.set(ctx.writer.position);
      },
    });
    // Only a store that saves checkpoints (SQLite: the one with `claims`); a cluster's log has none.
    if (ctx.store.claims)
      new Gauge({
        name: 'myko_checkpoint_position',
        help: 'Log position of the last saved checkpoint: a boot after a crash replays the events after it',
        registers,
        collect() {
          this.set(ctx.checkpoint.position);
        },
      });
    new Gauge({
      name: 'myko_items',
      help: 'Items in current state, per item type',
      labelNames: ['item_type'],
      registers,
      collect() {
        this.reset();
        for (const t of ctx.state.itemTypes()) this.set({ item_type: t }, ctx.state.count(t));
      },
    });
    registerReactionMetrics(ctx, registers);
  }

  /**
   * Hook into the writer, the store and the live queries. Wrapping instance
   * methods keeps the core free of metrics code; each wrapper adds a clock
   * read or two.
   */
  attach(): void {
    const { ctx } = this;
    ctx.writer.listeners.push((changes, stored) => this.onCommitted(changes, stored));

    const store = ctx.store;
    const append = store.append.bind(store);
    const appendHist = this.storeAppend;
    store.append = async (events) => {
      const t0 = performance.now();
      try {
        return await append(events);
      } finally {
        appendHist.observe((performance.now() - t0) / 1000);
      }
    };

    const writer = ctx.writer;
    const applyStored = writer.applyStored.bind(writer);
    writer.applyStored = (events, followed) => {
      this.applyStart = performance.now();
      applyStored(events, followed);
    };

    const queries = ctx.queries;
    const onChanges = queries.onChanges.bind(queries);
    queries.onChanges = (changes) => {
      onChanges(changes);
      if (changes.length === 0) return;
      const now = performance.now();
      if (this.applyStart > 0) this.diffLatency.observe((now - this.applyStart) / 1000);
      if (writer.batchAcceptedAt > 0) this.eventToDiff.observe((now - writer.batchAcceptedAt) / 1000);
    };
  }

  private onCommitted(changes: readonly Change[], stored: readonly StoredEvent[]): void {
    let ephemeral = 0;
    for (const c of changes) if (c.event.position === 0) ephemeral++;
    if (stored.length > 0) this.events.inc({ kind: 'persisted' }, stored.length);
    if (ephemeral > 0) this.events.inc({ kind: 'ephemeral' }, ephemeral);
    this.eventsTotal += stored.length + ephemeral;
  }

  /** Prometheus text format 0.0.4: this server's metrics, then the process's. */
  async text(): Promise<string> {
    const [mine, proc] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return mine + '\n' + proc;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
