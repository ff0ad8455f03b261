import pg from 'pg';
import { StoreError } from '../event-store.js';

export interface PgOptions {
  url: string;
  /** Schema holding the tables (tests use a fresh one per run). */
  schema: string;
  poolSize?: number;
}

/** Channel names carry the schema: NOTIFY is per database, and tests share one. */
export const channels = (schema: string) => ({
  events: `${schema}.events`,
  ephemeral: `${schema}.ephemeral`,
  rpc: `${schema}.rpc`,
});

/** Batches up to this many rows, and this many bytes as stored, travel in their NOTIFY (payloads stop at 8000 bytes). */
const inlineRows = 32;
const inlineBytes = 7800;

/** Cluster-wide advisory lock keys (pg_advisory_xact_lock / pg_try_advisory_lock). */
export const LockKey = { append: 0x6d796b6f01, migrate: 0x6d796b6f02, reaper: 0x6d796b6f03 } as const;

export const quoteIdent = (s: string) => '"' + s.replace(/"/g, '""') + '"';

/**
 * The reference server's layout (DESIGN.md): `myko_events (id BIGSERIAL,
 * item_type, item_id, change_type, created_at, tx, source_id, event JSONB)`
 * with a NOTIFY trigger, so both can share a database. Membership and
 * cross-server command tables are ours.
 */
function migration(schema: string): string {
  const ch = channels(schema);
  return `
  CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
  SET search_path TO ${quoteIdent(schema)};
  CREATE TABLE IF NOT EXISTS myko_events (
    id          BIGSERIAL PRIMARY KEY,
    item_type   TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    change_type TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    tx          TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    event       JSONB NOT NULL
  );
  CREATE INDEX IF NOT EXISTS myko_events_item ON myko_events (item_type, item_id, id);
  CREATE INDEX IF NOT EXISTS myko_events_src ON myko_events ((event->'identity'->>'src'), id);
  CREATE INDEX IF NOT EXISTS myko_events_tx ON myko_events (tx, id);
  -- One statement per batch (append.ts): the append lock, then the rows in the order given, in the
  -- caller's transaction, and the NOTIFY that wakes the tailers carrying what they need (tailer.ts):
  -- 'first:last', plus ':' and the rows as stored (jsonb text) when the batch is small. The table's
  -- trigger then stays quiet for this transaction (it wakes tailers for other writers, payload '').
  -- Returns [first, last] when the ids are contiguous (the usual case: they are drawn under the lock),
  -- else every id in ascending order.
  CREATE OR REPLACE FUNCTION myko_append(events jsonb, created timestamptz[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
    DECLARE ids bigint[]; body text; n int; lo bigint; hi bigint; payload text;
    BEGIN
      PERFORM pg_advisory_xact_lock(${LockKey.append});
      PERFORM set_config('myko.notified', 'on', true);
      IF jsonb_array_length(events) <= ${inlineRows} THEN
        WITH ins AS (
          INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
          SELECT t.e->>'itemType', t.e->'item'->>'id', t.e->>'changeType', t.c, t.e->>'tx', t.e->>'sourceId', t.e
          FROM ROWS FROM (jsonb_array_elements(events), unnest(created)) WITH ORDINALITY AS t(e, c, ord)
          ORDER BY t.ord
          RETURNING id, event)
        SELECT array_agg(id ORDER BY id), jsonb_agg(event ORDER BY id)::text INTO ids, body FROM ins;
      ELSE
        WITH ins AS (
          INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
          SELECT t.e->>'itemType', t.e->'item'->>'id', t.e->>'changeType', t.c, t.e->>'tx', t.e->>'sourceId', t.e
          FROM ROWS FROM (jsonb_array_elements(events), unnest(created)) WITH ORDINALITY AS t(e, c, ord)
          ORDER BY t.ord
          RETURNING id)
        SELECT array_agg(id ORDER BY id) INTO ids FROM ins;
      END IF;
      n := cardinality(ids);
      IF n IS NULL OR n = 0 THEN RETURN ids; END IF;
      lo := ids[1];
      hi := ids[n];
      payload := lo || ':' || hi;
      IF hi - lo + 1 = n THEN
        IF body IS NOT NULL AND octet_length(body) <= ${inlineBytes} THEN payload := payload || ':' || body; END IF;
        ids := ARRAY[lo, hi];
      END IF;
      PERFORM pg_notify('${ch.events}', payload);
      RETURN ids;
    END $$;
  CREATE OR REPLACE FUNCTION myko_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('myko.notified', true) IS DISTINCT FROM 'on' THEN PERFORM pg_notify('${ch.events}', ''); END IF;
      RETURN NULL;
    END $$;
  DROP TRIGGER IF EXISTS myko_events_notify ON myko_events;
  CREATE TRIGGER myko_events_notify AFTER INSERT ON myko_events FOR EACH STATEMENT EXECUTE FUNCTION myko_events_notify();
  CREATE TABLE IF NOT EXISTS myko_members (
    server_id    TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    port         INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
  );
  CREATE TABLE IF NOT EXISTS myko_rpc (
    id         BIGSERIAL PRIMARY KEY,
    to_server  TEXT NOT NULL,
    body       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
  );`;
}

export async function openPool(opts: PgOptions): Promise<pg.Pool> {
  // Every connection works in the schema, set at connection start-up (no extra round trip).
  // A 2 s connect timeout: while the database is unreachable, a write fails within 2 s with a clear
  // error instead of waiting for it to come back.
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 8, connectionTimeoutMillis: 2000, options: `-c search_path=${opts.schema}` });
  // An idle client's error (e.g. PostgreSQL restarted) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  // pg-pool listens for errors only on idle clients. A checked-out client between two statements (no query
  // active) that gets PostgreSQL's FATAL "terminating connection" emits 'error' with no listener, which
  // killed the whole member on a database restart. The failure still reaches the holder: its next query
  // rejects, and release() drops the unqueryable client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const client = await pool.connect().catch((err: Error) => {
    throw new StoreError(`cannot connect to PostgreSQL: ${err.message}`, { cause: err });
  });
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LockKey.migrate]);
    await client.query(migration(opts.schema));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new StoreError(`PostgreSQL migration failed: ${(err as Error).message}`, { cause: err });
  } finally {
    client.release();
  }
  return pool;
}
