import type { ServerContext } from '../context.js';
import type { StoredEvent } from '../store/event-store.js';
import { runCommand } from '../commands/run-command.js';
import type { CursorStore } from './cursor-store.js';
import { reactionCaller, type ReactionCommand, type ReactionDef, type ReactionEvent } from './define.js';

/** What /api/reactions, the dashboard and /metrics show of one reaction. */
export interface ReactionStatus {
  id: string;
  itemType: string;
  changeType: 'SET' | 'DEL' | '*';
  /** True while this server runs it (embedded: always, once started; cluster: on the member holding its lock). */
  active: boolean;
  /** Last log position finished (in memory; the stored cursor is at most one handled event behind). */
  position: number;
  /** Committed log positions not yet considered: 0 when caught up. */
  lag: number;
  /** Events whose commands all succeeded. */
  handled: number;
  /** Failed attempts that were retried. */
  retries: number;
  /** Events given up after `maxAttempts` failures. */
  failures: number;
  lastError?: { position: number; itemId: string; tx: string; attempt: number; message: string; at: string };
}

const pageSize = 256;

/**
 * Runs one reaction: reads the log after its cursor (only its item type),
 * hands each matching event to `run`, runs the commands one after the other
 * as the reaction's internal caller, and saves the cursor after each event.
 * Never two events at once, never out of order.
 */
export class ReactionRunner {
  private cursor = 0;
  private active = false;
  private stopped = true;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** Ends a retry's backoff early: only stop() calls it (commits must not shorten a backoff). */
  private endBackoff: (() => void) | undefined;
  private readonly counts = { handled: 0, retries: 0, failures: 0 };
  private lastError: ReactionStatus['lastError'];
  private readonly claims: Record<string, unknown>;

  constructor(
    readonly def: ReactionDef,
    private readonly ctx: ServerContext,
    private readonly cursors: CursorStore,
  ) {
    this.claims = { sub: reactionCaller(def.id), reaction: def.id, internal: true };
  }

  get running(): boolean {
    return !this.stopped;
  }

  get changeType(): 'SET' | 'DEL' | '*' {
    return this.def.changeType ?? 'SET';
  }

  status(): ReactionStatus {
    return {
      id: this.def.id,
      itemType: this.def.itemType,
      changeType: this.changeType,
      active: this.active,
      position: this.cursor,
      lag: this.active ? Math.max(0, this.ctx.writer.position - this.cursor) : 0,
      ...this.counts,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Begin (or resume, after taking over in a cluster) from the stored cursor. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.active = true;
    const previous = this.loopDone; // a loop stopped without waiting may still finish its event: never two at once
    this.loopDone = (async () => {
      await previous;
      while (!this.stopped) {
        try {
          await this.loop();
        } catch (err) {
          // The store failing (a read, or saving the cursor): resume from the stored cursor once it answers again.
          this.ctx.log.warn({ reaction: this.def.id, err: (err as Error).message }, 'reaction paused: the store failed; retrying');
          await this.sleep(1000);
        }
      }
    })();
  }

  /**
   * Stop after the event in hand (its cursor is saved only if it finished).
   * Waits at most `graceMs` for it: an event not finished by then is
   * delivered again on the next start.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    this.wake();
    this.endBackoff?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loopDone, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.active = false;
  }

  /** Writer listener: a committed batch. Wakes the loop when it holds an event of the reaction's type. */
  onCommitted(stored: readonly StoredEvent[]): void {
    if (this.stopped) return;
    for (const e of stored) if (e.itemType === this.def.itemType) return this.wake();
    // Nothing for it: when idle, its horizon moves on without a read (saved with the next event it handles).
    if (this.wakeUp && stored.length > 0) this.cursor = Math.max(this.cursor, stored[stored.length - 1]!.position);
  }

  private wake(): void {
    this.woken = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => (clearTimeout(t), resolve());
    });
  }

  private async loop(): Promise<void> {
    const { def, ctx } = this;
    let cursor = await this.cursors.load(def.id);
    if (cursor === undefined) {
      cursor = def.from === 'start' ? 0 : ctx.writer.position;
      await this.cursors.save(def.id, cursor);
    }
    this.cursor = cursor;
    let saved = cursor;
    while (!this.stopped) {
      this.woken = false;
      const head = ctx.writer.position; // applied (in a cluster: read by the tailer past every gap), so safe to read up to
      if (this.cursor >= head) {
        if (saved !== this.cursor) await this.cursors.save(def.id, (saved = this.cursor));
        if (!this.woken && !this.stopped) await this.sleep(1000); // woken by a commit; the timeout is a safety net
        continue;
      }
      const events = await ctx.store.readAfter(this.cursor, pageSize, { upTo: head, itemType: def.itemType });
      for (const e of events) {
        if (this.stopped) return;
        if (this.matches(e)) {
          if (!(await this.deliver(e))) return; // stopped while retrying: not finished, so not saved
          await this.cursors.save(def.id, (saved = e.position));
        }
        this.cursor = e.position;
      }
      if (events.length < pageSize) this.cursor = Math.max(this.cursor, head);
    }
  }

  private matches(e: StoredEvent): boolean {
    const want = this.changeType;
    return want === '*' || e.changeType === want;
  }

  /** Run the event's commands, retrying with backoff; false when stopped before it finished. */
  private async deliver(e: StoredEvent): Promise<boolean> {
    const { def, ctx } = this;
    const tx = `rx:${def.id}:${e.identity?._id ?? `p${e.position}`}`;
    const max = Math.max(1, def.maxAttempts ?? 5);
    const event: ReactionEvent = {
      position: e.position,
      itemType: e.itemType,
      changeType: e.changeType,
      item: e.item,
      createdAt: e.createdAt,
      tx: e.tx,
      sourceId: e.sourceId,
      ...(e.clientId ? { clientId: e.clientId } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await def.run(event, { state: ctx.state, log: ctx.log, tx, attempt });
        const commands: readonly ReactionCommand[] = out === undefined ? [] : Array.isArray(out) ? out : [out as ReactionCommand];
        for (let i = 0; i < commands.length; i++) {
          const c = commands[i]!;
          const commandTx = i === 0 ? tx : `${tx}:${i}`;
          const outcome = await runCommand(ctx, { commandId: c.commandId, command: { ...c.params, tx: commandTx } }, undefined, { claims: this.claims });
          if (!outcome.ok) throw Object.assign(new Error(`${c.commandId}: ${outcome.message}`), { code: outcome.code });
        }
        this.counts.handled++;
        return true;
      } catch (err) {
        const message = (err as Error).message ?? String(err);
        this.lastError = { position: e.position, itemId: e.item.id, tx, attempt, message, at: new Date().toISOString() };
        // Logged with the event, so a failure can be understood (and replayed by hand) from the log alone.
        const about = { reaction: def.id, position: e.position, itemType: e.itemType, changeType: e.changeType, itemId: e.item.id, tx, attempt, err: message, event: e };
        if (attempt >= max) {
          this.counts.failures++;
          // Given up: the reaction moves on, so one bad event does not stall every later one; it stays reported.
          ctx.log.error(about, `reaction gave up on an event after ${attempt} attempts`);
          return true;
        }
        this.counts.retries++;
        ctx.log.warn(about, 'reaction command failed; retrying');
        const delay = Math.min((def.backoffMs ?? 200) * 2 ** (attempt - 1), def.maxBackoffMs ?? 10_000);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.endBackoff = () => (clearTimeout(t), resolve());
        });
        this.endBackoff = undefined;
        if (this.stopped) return false;
      }
    }
  }
}
