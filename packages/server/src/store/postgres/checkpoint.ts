import type pg from 'pg';
import type { MItem } from '@myko/protocol';
import type { Checkpoint, StoredEvent } from '../event-store.js';
import { settledPosition } from './writers.js';

/**
 * Boot state straight from the table: the latest event of every item
 * (`DISTINCT ON`, served by the (item_type, item_id, id) index), read in one
 * REPEATABLE READ snapshot up to a position below which every id is final
 * (writers.ts settledPosition). Items whose
 * latest event is a DEL are absent; every item's leaf is its latest event.
 */
export async function loadFromTable(pool: pg.Pool, serverId: string): Promise<Checkpoint> {
  // Every id up to `position` is final before it is read: a row another writer committed late below it would
  // otherwise be missing from this state and never applied (the tailer goes on from `position`).
  const position = await settledPosition(pool);
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const pos = await client.query(`SELECT id, event->'identity'->>'_id' AS event_id FROM myko_events WHERE id = $1`, [position]);
    const res = await client.query<{ item_type: string; item_id: string; change_type: string; event: StoredEvent }>(
      `SELECT DISTINCT ON (item_type, item_id) item_type, item_id, change_type, event
       FROM myko_events WHERE id <= $1 ORDER BY item_type, item_id, id DESC`,
      [position],
    );
    // A server id that is reused (MYKO_SERVER_ID) continues its own chain.
    const chain = await client.query(
      `SELECT event->'identity'->>'chain' AS chain FROM myko_events WHERE event->'identity'->>'src' = $1 AND id <= $2 ORDER BY id DESC LIMIT 1`,
      [serverId, position],
    );
    await client.query('COMMIT');
    const items: { itemType: string; item: MItem; clientId?: string }[] = [];
    const leaves: { itemType: string; id: string; pids: string[] }[] = [];
    for (const r of res.rows) {
      if (r.change_type === 'SET') items.push({ itemType: r.item_type, item: r.event.item, ...(r.event.clientId ? { clientId: r.event.clientId } : {}) });
      if (r.event.identity) leaves.push({ itemType: r.item_type, id: r.item_id, pids: [r.event.identity._id] });
    }
    return { position, eventId: pos.rows[0]?.event_id ?? null, chain: chain.rows[0]?.chain ?? '', items, leaves };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
