import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Checkpoint, CheckpointDelta, EventStore, NewEvent, RawEventRow, StoredEvent } from '../event-store.js';
import { StoreError } from '../event-store.js';
import { channels, openPool, quoteIdent, type PgOptions } from './open.js';
import { appendBatch } from './append.js';
import { countHistory, lastPosition, readAfter, readHistory, readNext, readRawAfter, readTx } from './read.js';
import { loadFromTable } from './checkpoint.js';
import { gapMarker, writersFinished, type WriterMarker } from './writers.js';

export interface PostgresStoreOptions extends PgOptions {
  /** This member's id; a fresh one per process unless given. */
  serverId?: string;
}

type Listener = (channel: string, payload: string) => void;

/**
 * The cluster store: the log in PostgreSQL, shared by every member. Each
 * member appends its own events (append.ts) and tails everyone's (the
 * cluster tailer). `gapless` is false: a rolled-back transaction leaves a
 * hole in BIGSERIAL ids.
 */
export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres';
  readonly gapless = false;
  readonly serverId: string;
  readonly channels: ReturnType<typeof channels>;
  private listenClient: pg.Client | undefined;
  private readonly listeners: Listener[] = [];
  private closed = false;

  private constructor(
    readonly pool: pg.Pool,
    readonly opts: PostgresStoreOptions,
  ) {
    this.serverId = opts.serverId ?? randomUUID();
    this.channels = channels(opts.schema);
  }

  static async open(opts: PostgresStoreOptions): Promise<PostgresEventStore> {
    const pool = await openPool(opts);
    return new PostgresEventStore(pool, opts);
  }

  private wrap<T>(what: string, p: Promise<T>): Promise<T> {
    return p.catch((err: Error) => {
      throw new StoreError(`PostgreSQL ${what} failed: ${err.message}`, { cause: err });
    });
  }

  lastPosition(): Promise<number> {
    return this.wrap('read', lastPosition(this.pool));
  }

  /** Told of every committed append of this member, with its first position (the cluster tailer: events it need not read back). */
  onAppended: ((events: readonly NewEvent[], first: number) => void) | undefined;

  append(events: readonly NewEvent[]): Promise<StoredEvent[]> {
    return this.wrap(
      'append',
      appendBatch(this.pool, events).then((stored) => {
        if (stored.length > 0 && stored[stored.length - 1]!.position - stored[0]!.position + 1 === stored.length) this.onAppended?.(events, stored[0]!.position);
        return stored;
      }),
    );
  }

  readAfter(after: number, limit: number, opts?: { upTo?: number; itemType?: string }): Promise<StoredEvent[]> {
    return this.wrap('read', readAfter(this.pool, after, limit, opts));
  }

  /** See read.ts: the cluster tailer's read. */
  readNext(after: number, limit: number): Promise<StoredEvent[]> {
    return this.wrap('read', readNext(this.pool, after, limit));
  }

  readRawAfter(after: number, limit: number): Promise<RawEventRow[]> {
    return this.wrap('read', readRawAfter(this.pool, after, limit));
  }

  readHistory(itemType: string, id: string): Promise<StoredEvent[]> {
    return this.wrap('read', readHistory(this.pool, itemType, id));
  }

  readTx(tx: string): Promise<StoredEvent[]> {
    return this.wrap('read', readTx(this.pool, tx));
  }

  countHistory(itemType: string, id: string, upTo?: number): Promise<number> {
    return this.wrap('read', countHistory(this.pool, itemType, id, upTo));
  }

  loadCheckpoint(): Promise<Checkpoint> {
    return this.wrap('boot read', loadFromTable(this.pool, this.serverId));
  }

  /**
   * Appends go through the pool (one transaction per batch, under the append lock), so a failure is
   * undone by deleting what `fn` appended: every event past the position the log had before. Only for
   * `myko import`, which needs an empty log and members stopped; unlike SQLite, a crash part-way
   * leaves what was appended so far.
   */
  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    const before = await this.lastPosition();
    try {
      return await fn();
    } catch (err) {
      await this.wrap('undo', this.pool.query('DELETE FROM myko_events WHERE id > $1', [before]));
      throw err;
    }
  }

  /** Nothing to save: boot reads the latest event per item straight from the indexed table. */
  async saveCheckpoint(_delta: CheckpointDelta): Promise<undefined> {
    return undefined;
  }

  /** NOTIFY on one of this store's channels. */
  notify(channel: string, payload: string): Promise<void> {
    return this.wrap('notify', this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]).then(() => undefined));
  }

  /**
   * LISTEN on every channel of this store over one dedicated connection,
   * reconnecting after a failure (e.g. PostgreSQL restarted); `onReconnect`
   * runs after each new connection so callers can catch up on what they missed.
   */
  async listen(listener: Listener, onReconnect: () => void): Promise<void> {
    this.listeners.push(listener);
    if (this.listenClient) return;
    // One chain of attempts at a time, backing off to 5 s: a failed attempt must not schedule a second
    // retry through its own 'end' event (that doubled the attempts after every outage and exhausted
    // the server's connections).
    let retrying = false;
    const scheduleRetry = (delay: number) => {
      if (this.closed || retrying) return;
      retrying = true;
      setTimeout(() => {
        retrying = false;
        connect().then(onReconnect, () => scheduleRetry(Math.min(delay * 2, 5000)));
      }, delay).unref();
    };
    const connect = async (): Promise<void> => {
      const client = new pg.Client({ connectionString: this.opts.url });
      client.on('error', () => undefined);
      try {
        await client.connect();
        for (const ch of Object.values(this.channels)) await client.query(`LISTEN ${quoteIdent(ch)}`);
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      client.on('notification', (n) => {
        for (const l of this.listeners) l(n.channel, n.payload ?? '');
      });
      client.on('end', () => {
        if (this.listenClient === client) this.listenClient = undefined;
        scheduleRetry(200);
      });
      this.listenClient = client;
    };
    await connect();
  }

  /** See writers.ts: the reference point of an id gap. */
  gapMarker(): Promise<WriterMarker> {
    return gapMarker(this.pool);
  }

  /** See writers.ts: true when no writer of `marker` is still in progress. */
  writersFinished(marker: WriterMarker): Promise<boolean> {
    return writersFinished(this.pool, marker);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listenClient?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
