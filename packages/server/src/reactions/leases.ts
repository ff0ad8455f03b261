import pg from 'pg';
import type { Logger } from '../logger.js';
import type { PostgresEventStore } from '../store/postgres/index.js';

/**
 * Cluster mode: which member runs a reaction. Each reaction is run by the one
 * member that holds its PostgreSQL session advisory lock (keyed by schema and
 * reaction id), taken on one dedicated connection per member. The lock goes
 * with the session: when a member dies (kill -9, a lost network) PostgreSQL
 * ends its session and another member takes the lock at its next attempt and
 * resumes from the shared cursor. If this member's lock connection ends, it
 * stops its reactions at once (`onLost`), since another member may take them.
 */
export class ReactionLeases {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly held = new Set<string>();
  private closed = false;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly log: Logger,
    private readonly onLost: () => void,
  ) {}

  holds(id: string): boolean {
    return this.held.has(id);
  }

  /** True when this member holds (now or already) the reaction's lock. */
  async tryTake(id: string): Promise<boolean> {
    if (this.held.has(id)) return true;
    const client = await this.connect();
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [`${this.store.opts.schema}:reaction:${id}`]);
    if (r.rows[0]?.ok) this.held.add(id);
    return this.held.has(id);
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.store.opts.url, connectionTimeoutMillis: 2000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      client.on('end', () => {
        if (this.client !== client) return;
        this.client = undefined;
        if (this.held.size > 0 && !this.closed) {
          this.log.warn({ reactions: [...this.held] }, 'lost the reactions lock connection: stopping them here (another member may take them)');
          this.held.clear();
          this.onLost();
        }
      });
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Release every lock (ending the session releases them). */
  async close(): Promise<void> {
    this.closed = true;
    this.held.clear();
    await this.connecting?.catch(() => undefined);
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
