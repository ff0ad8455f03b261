import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import type { Registry, EventInput } from './core/registry.js';
import type { State } from './core/state.js';
import type { Writer } from './core/writer.js';
import type { Origin } from './core/normalize.js';
import type { LiveQueries } from './live/live-queries.js';
import type { LiveReports } from './live/live-reports.js';
import type { LiveViews } from './live/live-views.js';
import type { EventStore, NewEvent, StoredEvent } from './store/event-store.js';
import type { Connection } from './gateway/connection.js';
import type { Authenticator } from './security/auth.js';
import type { Permissions } from './security/permissions.js';
import type { Reactions } from './reactions/reactions.js';
import type { Windback } from './live/windback.js';

/** What the endpoints and command handlers share: one object, built by MykoServer. */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly state: State;
  readonly store: EventStore;
  readonly writer: Writer;
  /** The last saved checkpoint: a boot replays the log after its position (core/checkpointer.ts). */
  readonly checkpoint: { readonly position: number };
  readonly queries: LiveQueries;
  readonly reports: LiveReports;
  readonly views: LiveViews;
  readonly serverId: string;
  /** Live connections by clientId. */
  readonly connections: Map<string, Connection>;
  /** Undefined when authentication is off. */
  readonly auth: Authenticator | undefined;
  readonly permissions: Permissions;
  /** The reactions (sagas) plugins registered: their status for /metrics and the dashboard. */
  readonly reactions: Reactions;
  /** Per-client windback: pins a client's live results to the past (live/windback.ts). */
  readonly windback: Windback;
  /** True once shutdown began: connections closing then are not retired (the next boot reaps them). */
  stopping: boolean;
  /** Retirements of connections that closed before shutdown and are still committing: the shutdown waits for them. */
  readonly retiring: Set<Promise<void>>;
  /** Where a client is connected: this member or (cluster mode) another; undefined when nowhere. */
  locateClient(clientId: string): { dialect: 'seed' | 'current'; address: string; serverId: string } | undefined;
  /** Send a command to a client wherever it is connected and await its answer. */
  sendToClient(clientId: string, commandId: string, params: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown>;
  /** Normalise, validate, commit and apply; resolves when committed. Throws EventRejected or StoreError. */
  emit(events: readonly EventInput[], origin: Origin): Promise<StoredEvent[]>;
  /**
   * The synchronous half of `emit`: normalised and authorised events, ready for `writer.submit`, or
   * EventRejected thrown now (the owner challenge must know of a refusal before the next frame is handled).
   */
  admit(events: readonly EventInput[], origin: Origin): NewEvent[];
}
