/**
 * A batch's column values cross to the store thread once per run of equal values (append.ts
 * encodeRows), joined into one text unless a value holds the separator: whichever way they cross,
 * every row's indexed columns are its own event's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../../testing/index.js';
import { SqliteEventStore } from './index.js';
import { encodeRows } from './append.js';
import type { NewEvent } from '../event-store.js';

const ev = (itemType: string, id: string, tx: string, createdAt = '2026-12-06T00:00:00.000Z', changeType = 'SET'): NewEvent => ({
  itemType,
  changeType: changeType as NewEvent['changeType'],
  item: { id } as MItem,
  createdAt,
  tx,
  sourceId: 'src',
});

/** Interleaved runs: a value comes back after another, a column changes alone, ids and txs repeat. */
const batch = (withNul: boolean): NewEvent[] => [
  ev('Lamp', 'a', 't1'),
  ev('Lamp', 'b', 't1'),
  ev('Cue', 'a', 't1'),
  ev('Lamp', 'a', 't2', '2026-12-06T00:00:01.000Z'),
  ev('Lamp', withNul ? 'nul\u0000id' : 'c', withNul ? 'tx\u0000' : 't2', '2026-12-06T00:00:01.000Z', 'DEL'),
  ev('Lamp', 'a', 't2'),
  ev('', '', ''),
];

const columnsOf = (store: SqliteEventStore, from: number) =>
  store.db.prepare(`SELECT item_type, item_id, change_type, created_at, tx, source_id FROM myko_events WHERE id > ? ORDER BY id`).raw(true).all(from);
const expected = (events: NewEvent[]) => events.map((e) => [e.itemType, e.item.id, e.changeType, e.createdAt, e.tx, e.sourceId]);

test('equal values in a column cross once; joined unless a value holds a NUL', () => {
  const plain = encodeRows(batch(false));
  assert.equal(typeof plain.values, 'string');
  // Lamp, Cue, Lamp, '' in item_type: runs, not distinct values.
  assert.ok(plain.valueCount < 7 * 6, `${plain.valueCount} values for 42 cells`);
  assert.equal(plain.refs.length, 42);
  const nul = encodeRows(batch(true));
  assert.ok(Array.isArray(nul.values), 'a value with a NUL: the values cross as they are');
});

for (const thread of [false, true])
  test(`every row's indexed columns are its own event's (${thread ? 'on the store thread' : 'on the caller’s connection'})`, async () => {
    const dir = tempDir('myko-append-');
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    try {
      if (thread) await store.useThread();
      // More than the small appends made on the event loop while the thread is idle, so the thread takes them.
      const events = [...batch(false), ...batch(true), ...batch(false), ...batch(true)];
      const stored = await store.append(events);
      assert.deepEqual(
        stored.map((e) => e.position),
        events.map((_, i) => i + 1),
      );
      await store.close();
      const reopened = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
      try {
        assert.deepEqual(columnsOf(reopened, 0), expected(events));
      } finally {
        await reopened.close();
      }
    } finally {
      await store.close().catch(() => undefined);
    }
  });
