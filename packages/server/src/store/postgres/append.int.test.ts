import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresEventStore } from './index.js';
import { APPEND_STATEMENT } from './append.js';
import { testPostgres } from '../../testing/index.js';
import type { NewEvent, StoredEvent } from '../event-store.js';

const probe = (i: number): NewEvent => ({
  itemType: 'Probe',
  changeType: 'SET',
  item: { id: 'p', i },
  createdAt: new Date(Date.UTC(2026, 11, 7, 8, 0, 0, i)).toISOString(),
  tx: `t${i}`,
  sourceId: 'append-test',
});

/**
 * The append is a named statement: PostgreSQL prepares it once per connection and each later append
 * only binds it. On a pool of one connection, many appends leave one prepared statement, and they
 * still take their positions in order and read back as appended.
 */
test('PostgreSQL append: prepared once per connection, positions in order', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const store = await PostgresEventStore.open({ url: db.url, schema: db.schema, serverId: 'append-test', poolSize: 1 });
  try {
    const stored: StoredEvent[] = [];
    for (let i = 0; i < 5; i++) stored.push(...(await store.append([probe(2 * i), probe(2 * i + 1)])));
    assert.deepEqual(
      stored.map((e) => e.position),
      stored.map((_, i) => stored[0]!.position + i),
    );
    const prepared = await store.pool.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements');
    assert.deepEqual(
      prepared.rows.map((r) => r.name),
      [APPEND_STATEMENT],
      "one prepared statement on the pool's one connection, however many appends",
    );
    assert.match(prepared.rows[0]!.statement, /myko_append\(\$1::jsonb, \$2::timestamptz\[\]\)/);
    const back = await store.readAfter(0, 100);
    assert.deepEqual(
      back.map((e) => e.tx),
      stored.map((e) => e.tx),
    );
  } finally {
    await store.close();
    await db.drop();
  }
});
