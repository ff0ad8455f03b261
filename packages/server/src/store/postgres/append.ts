import type pg from 'pg';
import type { NewEvent, StoredEvent } from '../event-store.js';
import { copyWith } from '@myko/protocol';

/**
 * One batch, one statement, one round trip: `myko_append` (open.ts) takes the
 * cluster-wide advisory lock before drawing ids, inserts the rows in order and
 * commits with the statement (autocommit). Appends of all members therefore
 * commit one after another, so ids follow commit order and a tailer reading
 * `id > last` never sees a later id commit before an earlier one from a
 * member. (Writers that do not take the lock, such as another implementation
 * sharing the table, are covered by the tailer's gap rule: tailer.ts.)
 *
 * Why one statement: the lock is held only while PostgreSQL inserts, never
 * across a round trip to a busy member (BEGIN, lock, INSERT, COMMIT took four,
 * and the other members waited for this one's event loop between them).
 * Why one JSON array rather than a text array per column: pg encodes arrays
 * element by element, escaping every quote of every event's JSON; the columns
 * derived from the event are extracted by PostgreSQL, from the parsed jsonb.
 * `created_at` still comes from Node's Date parse, as it always has.
 *
 * Why a named statement (APPEND_STATEMENT): PostgreSQL parses and plans it once per pooled
 * connection, and every later append only binds and executes it. Unnamed, each append was parsed
 * and planned again: 0.03-0.05 ms of a 0.4-0.5 ms call at p50 (bench/RESULTS.md, issue 15, fifteenth
 * part), on the path of every cluster write, and under the append lock's holder's clock. It adds no
 * requirement on how members connect: cluster mode already needs session-level connections (LISTEN),
 * which a transaction-pooling proxy does not give.
 */
/** The name the append is prepared under on each connection (pg_prepared_statements shows it). */
export const APPEND_STATEMENT = 'myko_append';

export async function appendBatch(pool: pg.Pool, events: readonly NewEvent[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const created = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) created[i] = new Date(events[i]!.createdAt).toISOString();
  const res = await pool.query<{ ids: string[] }>({
    name: APPEND_STATEMENT,
    text: 'SELECT myko_append($1::jsonb, $2::timestamptz[]) AS ids',
    values: [JSON.stringify(events), created],
  });
  const ids = res.rows[0]!.ids.map(Number);
  // Ids are drawn in insert order: ascending ids pair with the input order. Contiguous ones come as [first, last].
  if (ids.length === events.length) return events.map((e, i) => copyWith(e, 'position', ids[i]!));
  if (ids.length !== 2 || ids[1]! - ids[0]! + 1 !== events.length) throw new Error(`append returned ${ids.length} ids for ${events.length} events`);
  const first = ids[0]!;
  return events.map((e, i) => copyWith(e, 'position', first + i));
}
