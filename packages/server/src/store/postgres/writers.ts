import type pg from 'pg';

/**
 * Whether an id that is missing from `myko_events` can still appear.
 *
 * Ids are drawn (nextval) before a transaction commits, so a missing id is
 * either held by a transaction still open or lost to one that rolled back.
 * A marker records the transactions writing at one moment (a
 * `pg_current_snapshot()`); once every one of them has ended, no id drawn
 * before that moment can appear any more. The cluster tailer uses it for a gap
 * it meets, boot for every id below the position it loads.
 */
export interface WriterMarker {
  /** `pg_current_snapshot()` as text: its xip list is the transactions writing then. */
  snapshot: string;
  /** The database clock then. */
  seenAt: Date;
}

/** The writers of now, and the highest id stored now (0 when empty), read in one statement. */
export async function gapMarker(pool: pg.Pool): Promise<WriterMarker & { end: number }> {
  const res = await pool.query(
    `SELECT pg_current_snapshot()::text AS s, clock_timestamp() AS t, (SELECT id FROM myko_events ORDER BY id DESC LIMIT 1) AS p`,
  );
  const r = res.rows[0];
  return { snapshot: r.s as string, seenAt: r.t as Date, end: r.p === null ? 0 : Number(r.p) };
}

/**
 * True when no writer of `marker` is still in progress.
 *
 * Why the snapshot rather than pg_stat_activity.xact_start alone: the snapshot lists every writing
 * transaction whatever role runs it (pg_stat_activity hides other roles' xact_start unless we hold
 * pg_read_all_stats, so a reference server on its own role could have a late commit skipped), and it
 * leaves out read-only transactions (an idle-in-transaction reporting session must not stall every tailer).
 * The second clause covers the instant between an INSERT drawing its id (nextval) and being given a
 * transaction id, for the sessions we can see: an active statement, begun before the marker, with no
 * transaction id yet.
 */
export async function writersFinished(pool: pg.Pool, marker: WriterMarker): Promise<boolean> {
  const res = await pool.query(
    `SELECT NOT EXISTS (
       SELECT 1 FROM pg_snapshot_xip($1::pg_snapshot) AS x(xid) WHERE pg_xact_status(x.xid) = 'in progress'
     ) AND NOT EXISTS (
       SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()
         AND state = 'active' AND backend_xid IS NULL AND xact_start < $2
     ) AS ok`,
    [marker.snapshot, marker.seenAt],
  );
  return res.rows[0].ok === true;
}

/**
 * The highest id stored now, once every id below it is final: the writers of
 * the moment it was read have all ended (polled every 20 ms). Boot loads the
 * state up to this position and the tailer goes on from it, so an id below it
 * that a still-open transaction held (another writer sharing the table) is not
 * skipped.
 */
export async function settledPosition(pool: pg.Pool): Promise<number> {
  const marker = await gapMarker(pool);
  while (!(await writersFinished(pool, marker))) await new Promise((r) => setTimeout(r, 20));
  return marker.end;
}
