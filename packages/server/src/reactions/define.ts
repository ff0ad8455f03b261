import type { MItem } from '@myko/protocol';
import type { Logger } from '../logger.js';
import type { StateReader } from '../core/state.js';

/** A committed event as a reaction sees it: as stored, with its log position. */
export interface ReactionEvent<T extends MItem = MItem> {
  position: number;
  itemType: string;
  changeType: 'SET' | 'DEL';
  item: T;
  createdAt: string;
  tx: string;
  sourceId: string;
  clientId?: string;
}

/** A command a reaction asks for. Its tx is derived from the event (see ReactionContext.tx); `params` must not carry one. */
export interface ReactionCommand {
  commandId: string;
  params?: Record<string, unknown>;
}

export interface ReactionContext {
  /** Live state when `run` is called (not the state at the event: later events may already be applied). */
  readonly state: StateReader;
  readonly log: Logger;
  /**
   * The tx the first command of this event runs with: `rx:<reaction id>:<event id>`, the same on every
   * delivery of the event (after a restart, a retry, a failover). The n-th command (from 0) gets `<tx>:<n>`
   * for n > 0. A command that is idempotent by its tx (e.g. it writes items whose ids derive from
   * `CommandContext.tx`) has its effect once however often the event is delivered.
   */
  readonly tx: string;
  /** 1 on the first delivery in this process, then 2, 3… for retries after a failure. */
  readonly attempt: number;
}

/**
 * A reaction (saga): turns committed events of one item type (and change
 * kind) into commands, run one at a time in log order, as the named internal
 * caller `reaction:<id>` (permission rules see `{sub: "reaction:<id>",
 * reaction: id, internal: true}` as its claims).
 *
 * Guarantee: at-least-once delivery in log order. The last log position a
 * reaction finished is kept in the store (`myko_reaction_cursors`), written
 * after the event's commands completed; after a restart, a kill -9 or a
 * cluster failover it resumes after that position, so no committed event is
 * skipped, and only the one event that was in flight may be delivered again,
 * with the same tx. With commands idempotent by their tx the effect is
 * exactly once (effectively-once).
 */
export interface ReactionDef<T extends MItem = MItem> {
  /** Stable: the cursor is kept under it. Renaming a reaction starts a new one. */
  id: string;
  itemType: string;
  /** Which events: SET, DEL, or both ('*'). Default SET. */
  changeType?: 'SET' | 'DEL' | '*';
  /**
   * The commands for one event (none: nothing to do). May be async. Throwing
   * counts as a failure of the event, retried like a failing command.
   */
  run(event: ReactionEvent<T>, ctx: ReactionContext): ReactionCommand | readonly ReactionCommand[] | undefined | Promise<ReactionCommand | readonly ReactionCommand[] | undefined>;
  /**
   * Where a reaction registered for the first time starts: 'now' (events
   * committed from then on; the default, so adding a reaction to a running
   * show does not replay its whole history into commands) or 'start' (the
   * whole log).
   */
  from?: 'now' | 'start';
  /** Attempts per event before it is given up and reported (default 5). */
  maxAttempts?: number;
  /** First retry delay in ms, doubled per attempt up to `maxBackoffMs` (defaults 200 and 10 000). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export const defineReaction = <T extends MItem>(d: ReactionDef<T>) => d;

/** The caller name permission rules and logs see. */
export const reactionCaller = (id: string) => `reaction:${id}`;
