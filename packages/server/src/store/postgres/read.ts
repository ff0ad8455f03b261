import type pg from 'pg';
import type { RawEventRow, StoredEvent } from '../event-store.js';
import { copyWith } from '@myko/protocol';

const toEvent = (row: { id: string; event: Omit<StoredEvent, 'position'> }): StoredEvent => copyWith(row.event, 'position', Number(row.id));

export async function readAfter(pool: pg.Pool, after: number, limit: number, opts: { upTo?: number; itemType?: string } = {}): Promise<StoredEvent[]> {
  const upTo = opts.upTo ?? Number.MAX_SAFE_INTEGER;
  const res =
    opts.itemType === undefined
      ? await pool.query(`SELECT id, event FROM myko_events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, [after, upTo, limit])
      : await pool.query(`SELECT id, event FROM myko_events WHERE id > $1 AND id <= $2 AND item_type = $3 ORDER BY id LIMIT $4`, [after, upTo, opts.itemType, limit]);
  return res.rows.map(toEvent);
}

/**
 * The cluster tailer's read: the next `limit` rows after `after`. No upper bound in the query: with
 * one (`id <= $2`) and no statistics yet on a growing table, PostgreSQL estimated a handful of rows,
 * chose a bitmap scan of the whole range and a sort, and so read every row past `after` (the
 * uncommitted ones of an insert in progress too) on each call. `id > $1 ORDER BY id LIMIT $2` is an
 * ordered scan of the primary key that stops after `limit` visible rows; the tailer bounds `limit`
 * by what it knows is committed, so the scan need not reach an insert in progress.
 */
export async function readNext(pool: pg.Pool, after: number, limit: number): Promise<StoredEvent[]> {
  const res = await pool.query(`SELECT id, event FROM myko_events WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit]);
  return res.rows.map(toEvent);
}

export async function readHistory(pool: pg.Pool, itemType: string, id: string): Promise<StoredEvent[]> {
  const res = await pool.query(`SELECT id, event FROM myko_events WHERE item_type = $1 AND item_id = $2 ORDER BY id`, [itemType, id]);
  return res.rows.map(toEvent);
}

/** From the index myko_events_tx (tx, id). */
export async function readTx(pool: pg.Pool, tx: string): Promise<StoredEvent[]> {
  const res = await pool.query(`SELECT id, event FROM myko_events WHERE tx = $1 ORDER BY id`, [tx]);
  return res.rows.map(toEvent);
}

/** Answered from the index myko_events_item (item_type, item_id, id), an index-only scan once the table is vacuumed. */
export async function countHistory(pool: pg.Pool, itemType: string, id: string, upTo = Number.MAX_SAFE_INTEGER): Promise<number> {
  const res = await pool.query(`SELECT COUNT(*) AS n FROM myko_events WHERE item_type = $1 AND item_id = $2 AND id <= $3`, [itemType, id, upTo]);
  return Number(res.rows[0].n);
}

export async function readRawAfter(pool: pg.Pool, after: number, limit: number): Promise<RawEventRow[]> {
  const res = await pool.query(
    `SELECT id, item_type, item_id, change_type, event::text AS event FROM myko_events WHERE id > $1 ORDER BY id LIMIT $2`,
    [after, limit],
  );
  return res.rows.map((r) => ({ position: Number(r.id), itemType: r.item_type, itemId: r.item_id, changeType: r.change_type, event: r.event }));
}

export async function lastPosition(pool: pg.Pool): Promise<number> {
  const res = await pool.query(`SELECT COALESCE(MAX(id), 0) AS p FROM myko_events`);
  return Number(res.rows[0].p);
}
