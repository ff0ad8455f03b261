import type { EventStore } from '../store/event-store.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { PostgresEventStore } from '../store/postgres/index.js';

/**
 * Where each reaction's cursor (the last log position it finished) is kept:
 * a small table next to the log, `myko_reaction_cursors (reaction_id,
 * position, updated_at)`, in the same database.
 *
 * Why a table and not a reserved item type: a cursor is the server's own
 * bookkeeping, not application state. As items, every handled event would
 * add an event to the log (doubling it for a busy reaction), cursors would
 * reach clients' queries, and a restore point or an undo would move them back
 * and make reactions run again.
 *
 * Why not in the same transaction as the command's events: a command may
 * write nothing, write in several commits, or act outside the store (send a
 * command to an executor), so no one transaction holds "its effect". The
 * cursor is written after the event's commands completed; what a crash in
 * between costs is one re-delivery of that event with the same tx, which a
 * tx-idempotent command absorbs (define.ts states the guarantee).
 */
export interface CursorStore {
  load(reactionId: string): Promise<number | undefined>;
  save(reactionId: string, position: number): Promise<void>;
  all(): Promise<Map<string, number>>;
}

export function cursorStoreFor(store: EventStore): CursorStore {
  if (store instanceof SqliteEventStore) return new SqliteCursors(store);
  if (store instanceof PostgresEventStore) return new PostgresCursors(store);
  return new MemoryCursors();
}

class SqliteCursors implements CursorStore {
  private ready: Promise<unknown> | undefined;
  constructor(private readonly store: SqliteEventStore) {}

  /** Through the store, which may run its connection on its own thread (store/sqlite/thread.ts). */
  private async sql(mode: 'run' | 'get' | 'all', sql: string, params: unknown[] = []): Promise<unknown> {
    this.ready ??= this.store
      .sql(
        'exec',
        `CREATE TABLE IF NOT EXISTS myko_reaction_cursors (
        reaction_id TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID`,
      )
      .catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
    await this.ready;
    return this.store.sql(mode, sql, params);
  }

  async load(id: string): Promise<number | undefined> {
    const row = (await this.sql('get', 'SELECT position FROM myko_reaction_cursors WHERE reaction_id = ?', [id])) as { position: number } | undefined;
    return row?.position;
  }

  /** Durable when it returns: the log's own synchronous mode applies (FULL by default). */
  async save(id: string, position: number): Promise<void> {
    await this.sql(
      'run',
      `INSERT INTO myko_reaction_cursors (reaction_id, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (reaction_id) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      [id, position, new Date().toISOString()],
    );
  }

  async all(): Promise<Map<string, number>> {
    const rows = (await this.sql('all', 'SELECT reaction_id, position FROM myko_reaction_cursors')) as { reaction_id: string; position: number }[];
    return new Map(rows.map((r) => [r.reaction_id, r.position]));
  }
}

class PostgresCursors implements CursorStore {
  private ready: Promise<void> | undefined;
  constructor(private readonly store: PostgresEventStore) {}

  private init(): Promise<void> {
    this.ready ??= this.store.pool
      .query(
        `CREATE TABLE IF NOT EXISTS myko_reaction_cursors (
          reaction_id TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      )
      .then(() => undefined)
      .catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
    return this.ready;
  }

  async load(id: string): Promise<number | undefined> {
    await this.init();
    const r = await this.store.pool.query<{ position: string }>('SELECT position FROM myko_reaction_cursors WHERE reaction_id = $1', [id]);
    return r.rows[0] ? Number(r.rows[0].position) : undefined;
  }

  async save(id: string, position: number): Promise<void> {
    await this.init();
    await this.store.pool.query(
      `INSERT INTO myko_reaction_cursors (reaction_id, position, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (reaction_id) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      [id, position],
    );
  }

  async all(): Promise<Map<string, number>> {
    await this.init();
    const r = await this.store.pool.query<{ reaction_id: string; position: string }>('SELECT reaction_id, position FROM myko_reaction_cursors');
    return new Map(r.rows.map((row) => [row.reaction_id, Number(row.position)]));
  }
}

/** A store of another kind (an application's own EventStore): cursors last as long as the process. */
class MemoryCursors implements CursorStore {
  private readonly map = new Map<string, number>();
  async load(id: string) {
    return this.map.get(id);
  }
  async save(id: string, position: number) {
    this.map.set(id, position);
  }
  async all() {
    return new Map(this.map);
  }
}
