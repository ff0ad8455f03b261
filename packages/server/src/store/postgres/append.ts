import type pg from 'pg';
import type { NewEvent, StoredEvent } from '../event-store.js';
import { LockKey } from './open.js';

/**
 * One transaction per batch, under a cluster-wide advisory lock taken before
 * the ids are drawn: appends of all members commit one after another, so ids
 * follow commit order and a tailer reading `id > last` never sees a later id
 * commit before an earlier one from a member. (Writers that do not take the
 * lock, such as another implementation sharing the table, are covered by the
 * tailer's gap rule: tail.ts.)
 */
export async function appendBatch(pool: pg.Pool, events: readonly NewEvent[]): Promise<StoredEvent[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LockKey.append]);
    const res = await client.query<{ id: string }>(
      `INSERT INTO myko_events (item_type, item_id, change_type, created_at, tx, source_id, event)
       SELECT t.item_type, t.item_id, t.change_type, t.created_at, t.tx, t.source_id, t.event
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::jsonb[])
            WITH ORDINALITY AS t(item_type, item_id, change_type, created_at, tx, source_id, event, ord)
       ORDER BY t.ord
       RETURNING id`,
      [
        events.map((e) => e.itemType),
        events.map((e) => e.item.id),
        events.map((e) => e.changeType),
        events.map((e) => new Date(e.createdAt).toISOString()),
        events.map((e) => e.tx),
        events.map((e) => e.sourceId),
        events.map((e) => JSON.stringify(e)),
      ],
    );
    await client.query('COMMIT');
    // Ids are drawn in insert order: ascending ids pair with the input order.
    const ids = res.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    return events.map((e, i) => ({ ...e, position: ids[i]! }));
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
