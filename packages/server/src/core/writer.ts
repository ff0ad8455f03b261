import type { EventStore, NewEvent, StoredEvent } from '../store/event-store.js';
import type { Registry } from './registry.js';
import type { Change, State } from './state.js';
import { IdentityTracker } from './identity.js';
import type { Logger } from '../logger.js';
import type { Relations } from '../relations/expand.js';
import { copyWith } from '@myko/protocol';

export interface CommitListener {
  /**
   * Called once per committed batch, in log order, after state has been
   * reduced: `changes` are what altered state, `stored` every event the batch
   * persisted (a SET equal to the current item is stored but changes nothing).
   */
  (changes: Change[], stored: StoredEvent[]): void;
}

interface Submission {
  events: readonly NewEvent[];
  resolve: (stored: StoredEvent[]) => void;
  reject: (err: Error) => void;
  /** Ephemeral events another cluster member published: apply, do not publish again. */
  remote: boolean;
  /** performance.now() when submitted (decoded and validated): the start of myko_event_to_diff_seconds. */
  at: number;
  /** `events` with what relationships derive from them (relations/expand.ts), set per commit attempt. */
  all?: readonly NewEvent[];
  extras?: ReadonlySet<NewEvent>;
}

/**
 * Cluster mode (cluster/cluster.ts): committed events are applied by the
 * tailer in log order, so every member applies the same events in the same
 * order, its own included; ephemeral events are published to the others.
 */
export interface ClusterLink {
  /** Resolves once the tailer has applied every event up to `position`. */
  catchUp(position: number): Promise<void>;
  publishEphemeral(events: readonly NewEvent[]): void;
}

/**
 * The one ordered writer of the process.
 *
 *   submit() → queue → [setImmediate] → append batch (one transaction)
 *            → reduce into state → listeners (live queries, lifecycle) → resolve
 *
 * Guarantees:
 * - Committed before applied: state and subscribers never see an event the
 *   store has not made durable. A failed append rejects every submission of
 *   its batch and changes nothing.
 * - Group commit: everything submitted in one turn of the event loop, and
 *   whatever arrives while a commit is in flight, goes into the next
 *   transaction (up to `maxBatchEvents`). When idle, a submission is flushed
 *   at the end of the current I/O phase: no timer, no added wait.
 * - A submission is never split: a client's event batch is atomic.
 * - Events of non-persistent types (e.g. Pulse) skip the store but keep their
 *   place in the order.
 * - What declared relationships derive from a batch (cascade DELs, ensured
 *   SETs) is appended in the same transaction, right after its cause.
 */
export class Writer {
  private queue: Submission[] = [];
  private scheduled = false;
  private flushing = false;
  private readonly between: (() => void | Promise<void>)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  readonly listeners: CommitListener[] = [];
  /** Position of the last persisted event. */
  position = 0;
  /** `_id` of the event at `position`. */
  lastEventId: string | null = null;
  /** Leaves and chain head of the event DAG (core/identity.ts). */
  readonly identity: IdentityTracker;
  /**
   * While listeners run for a batch this writer committed: when its earliest submission was accepted
   * (performance.now()); 0 otherwise (boot, the cluster tailer). For the accepted → diffs metric.
   */
  batchAcceptedAt = 0;

  constructor(
    private readonly store: EventStore,
    private readonly state: State,
    private readonly registry: Registry,
    private readonly maxBatchEvents: number,
    /** For `--log-level debug`: one line per commit. */
    private readonly log?: Logger,
  ) {
    this.identity = new IdentityTracker(store.serverId);
  }

  /** Set in cluster mode. */
  cluster: ClusterLink | undefined;
  /** Declared relationships (server.ts); a batch they do not concern costs one lookup per event. */
  relations: Relations | undefined;
  /** Position of the last event this writer appended (cluster: state may not have applied it yet). */
  private lastAppended = 0;
  /** Cluster mode: settles once the last committed batch is applied and answered (they are, in order). */
  private clusterTurn: Promise<void> = Promise.resolve();

  submit(events: readonly NewEvent[], opts: { remote?: boolean } = {}): Promise<StoredEvent[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject, remote: opts.remote === true, at: performance.now() });
      this.schedule();
    });
  }

  /**
   * Resolves once everything submitted before it is committed (or refused): an empty submission, which
   * keeps its place in the queue. For decisions that read state and must see those writes applied.
   */
  barrier(): Promise<void> {
    return this.submit([]).then(() => undefined);
  }

  /** Run `task` between two batches (never while a commit is in flight): checkpoints use it. */
  exclusive(task: () => void | Promise<void>): void {
    this.between.push(task);
    this.schedule();
  }

  /**
   * Resolves once nothing is queued or in flight. Under a steady stream of writes that may take long:
   * to wait only for what was submitted so far, use `barrier`.
   */
  idle(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    try {
      while (this.queue.length > 0 || this.between.length > 0) {
        while (this.between.length > 0) await this.between.shift()!();
        if (this.queue.length === 0) break;
        const batch = this.takeBatch();
        try {
          await this.commitOne(batch);
        } catch (err) {
          // A bug below must fail this batch's submitters, not escape as an unhandled rejection and stop the process.
          for (const s of batch) s.reject(err as Error);
        }
      }
    } finally {
      this.flushing = false;
      if (this.queue.length > 0 || this.between.length > 0) this.schedule();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private takeBatch(): Submission[] {
    let n = 0;
    let i = 0;
    while (i < this.queue.length && (i === 0 || n + this.queue[i]!.events.length <= this.maxBatchEvents)) {
      n += this.queue[i]!.events.length;
      i++;
    }
    return this.queue.splice(0, i);
  }

  /**
   * Derive what relationships imply, against current state. In cluster mode
   * the tailer applies the log behind the writer: wait until it has applied
   * everything this member appended, so a cascade sees the children this
   * member just committed. Remote (already expanded) submissions are kept as
   * they are.
   */
  private async expand(batch: Submission[]): Promise<void> {
    const relations = this.relations;
    for (const s of batch) {
      s.all = s.events;
      s.extras = undefined;
    }
    if (!relations || !batch.some((s) => !s.remote && relations.concerns(s.events))) return;
    if (this.cluster) await this.cluster.catchUp(Math.max(this.lastAppended, this.position));
    const session = relations.session(this.state);
    for (const s of batch) {
      if (s.remote) continue;
      const x = session.expand(s.events);
      s.all = x.events;
      if (x.extras.size > 0) s.extras = x.extras;
    }
  }

  private async commitOne(batch: Submission[]): Promise<void> {
    try {
      await this.expand(batch);
    } catch (err) {
      for (const s of batch) s.reject(err as Error);
      return;
    }
    const persistent: NewEvent[] = [];
    for (const s of batch) for (const e of s.all!) if (this.registry.isPersistent(e.itemType)) persistent.push(e);
    const staged = this.identity.stage(persistent);
    let stored: StoredEvent[];
    const t0 = performance.now();
    try {
      stored = persistent.length > 0 ? await this.store.append(persistent) : [];
    } catch (err) {
      if (batch.length > 1 && isDataError(err)) {
        // One submission's data (e.g. a string PostgreSQL cannot store) must not fail the others it was grouped with.
        for (const e of persistent) {
          delete e.identity;
          delete (e as Partial<StoredEvent>).position;
        }
        for (const s of batch) await this.commitOne([s]);
        return;
      }
      for (const s of batch) s.reject(err as Error);
      return;
    }
    // Embedded, the batch is applied right below and told so (applyStored's `followed`): nothing to
    // remember. In cluster mode the tailer applies it later and must not follow it again.
    this.identity.commit(staged, this.cluster !== undefined);
    if (stored.length > 0) this.lastAppended = stored[stored.length - 1]!.position;
    if (this.log?.isLevelEnabled('debug'))
      this.log.debug(
        { events: persistent.length, submissions: batch.length, ms: Math.round((performance.now() - t0) * 100) / 100, position: stored.at(-1)?.position ?? this.position },
        'commit',
      );

    // Pair each event with its stored copy, in submission order.
    // Derived events are applied with their cause but answered to no one: a submitter gets its own events back.
    const perSubmission: StoredEvent[][] = [];
    const applied: StoredEvent[] = [];
    const ephemeral: StoredEvent[] = [];
    const toPublish: NewEvent[] = [];
    let k = 0;
    for (const s of batch) {
      const out: StoredEvent[] = [];
      for (const e of s.all!) {
        let se: StoredEvent;
        if (this.registry.isPersistent(e.itemType)) se = stored[k++]!;
        else {
          se = copyWith(e, 'position', 0);
          ephemeral.push(se);
          if (!s.remote) toPublish.push(e);
        }
        applied.push(se);
        if (!s.extras?.has(e)) out.push(se);
      }
      perSubmission.push(out);
    }
    if (this.cluster) {
      // The tailer applies persisted events (ours and others') in log order. The writer does not wait for
      // it: the next batch is appended meanwhile, so while the database is unreachable new writes fail at
      // once instead of queueing behind a batch that cannot be read back yet. Submissions resolve in order.
      const cluster = this.cluster;
      // A barrier (an empty submission) waits, like any write, until the tailer has applied what this
      // member appended before it.
      const upTo = stored.length > 0 ? stored[stored.length - 1]!.position : batch.some((s) => s.events.length === 0) ? this.lastAppended : 0;
      const caughtUp = upTo > 0 ? cluster.catchUp(upTo) : Promise.resolve();
      // Handled below once the batches before it are done; until then a rejection must not count as unhandled.
      caughtUp.catch(() => undefined);
      // In batch order: a batch that waits for nothing (pulses alone) must not overtake one still waiting
      // for the tailer, or its pulses would be applied, shown and published before the older ones, and an
      // older value would end up as the emitter's last.
      this.clusterTurn = this.clusterTurn
        .then(() => caughtUp)
        .then(
          () => {
            try {
              if (ephemeral.length > 0) this.applyStored(ephemeral);
              if (toPublish.length > 0) cluster.publishEphemeral(toPublish);
              batch.forEach((s, i) => s.resolve(perSubmission[i]!));
            } catch (err) {
              batch.forEach((s) => s.reject(err as Error));
            }
          },
          (err: Error) => batch.forEach((s) => s.reject(err)),
        );
      return;
    }
    this.batchAcceptedAt = batch[0]!.at; // the queue is in submission order
    try {
      this.applyStored(applied, true);
    } finally {
      this.batchAcceptedAt = 0;
    }
    batch.forEach((s, i) => s.resolve(perSubmission[i]!));
  }

  /**
   * Reduce committed events into state, in the order given, and tell the
   * listeners. The embedded writer calls it after each commit; in cluster mode
   * the tailer calls it for every event read from the shared log. `followed`:
   * the identity has followed these events already (the writer's own commit).
   */
  applyStored(events: readonly StoredEvent[], followed = false): void {
    const changes: Change[] = [];
    const derived: Change[] = [];
    const persisted: StoredEvent[] = [];
    for (const e of events) {
      const change = this.state.apply(e, derived);
      if (change) changes.push(change);
      if (derived.length > 0) {
        // Items changed through a reverse reference (core/backrefs.ts), after the change that caused them.
        changes.push(...derived);
        derived.length = 0;
      }
      if (e.position > 0) {
        persisted.push(e);
        if (!followed) this.identity.applied(e);
        this.position = e.position;
        this.lastEventId = e.identity?._id ?? null;
      }
    }
    for (const listener of this.listeners) {
      try {
        listener(changes, persisted);
      } catch {
        // A listener's failure must not undo a commit; listeners log their own errors.
      }
    }
  }
}

/** PostgreSQL data exceptions (class 22) and constraint violations (23) belong to the data, not to the store. */
function isDataError(err: unknown): boolean {
  const code = ((err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code) as string | undefined;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
