/**
 * The log head (append.ts): recorded by every append in the row of `sqlite_sequence` that
 * AUTOINCREMENT rewrites anyway, so a commit writes no page for it of its own; moved there from
 * `myko_meta` by migration 6; and read from whichever of the two is further along, should a server of
 * an earlier version write the directory again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../../testing/index.js';
import { SqliteEventStore } from './index.js';
import { LOG_HEAD_ROW } from './append.js';
import type { NewEvent } from '../event-store.js';

const ev = (id: string, n: number): NewEvent => ({
  itemType: 'Lamp',
  changeType: 'SET',
  item: { id, n } as MItem,
  createdAt: '2026-12-06T00:00:00.000Z',
  tx: `t${n}`,
  sourceId: 's',
  identity: { _id: `id-${n}`, pids: [], src: 's', dHash: 'd', ts: '2026-12-06T00:00:00.000Z', chain: 'c' },
});

test('a single-event commit writes four WAL pages (the row, its two indexes, sqlite_sequence with the head), not five', async () => {
  const dir = tempDir('myko-head-');
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  try {
    for (let i = 0; i < 20; i++) store.appendNow([ev(`warm${i}`, i)]);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const n = 200;
    for (let i = 0; i < n; i++) store.appendNow([ev(`lamp${i % 50}`, 100 + i)]);
    const frames = (store.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log;
    // Four pages per commit, plus the odd page split; a head in a page of its own made it 5.2-5.3.
    assert.ok(frames / n < 4.6, `${frames / n} WAL frames per single-event commit`);
    assert.deepEqual((await store.claims()).head, { position: 20 + n, eventId: `id-${100 + n - 1}` });
    assert.equal(store.db.prepare(`SELECT COUNT(*) FROM myko_meta WHERE key = 'log_head'`).pluck().get(), 0, 'no second copy');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a head kept in myko_meta (a store before migration 6) is moved; one an earlier server wrote there later wins when further along', async () => {
  const dir = tempDir('myko-head-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    store.appendNow([ev('a', 1), ev('b', 2)]);
    await store.close();
    // Put the directory back as migration 5 left it: the head in myko_meta, none in sqlite_sequence.
    const raw = new Database(join(dir, 'myko.db'));
    raw.prepare(`DELETE FROM sqlite_sequence WHERE name = ?`).run(LOG_HEAD_ROW);
    raw.prepare(`INSERT INTO myko_meta (key, value) VALUES ('log_head', '2 id-2')`).run();
    raw.pragma('user_version = 5');
    raw.close();

    const migrated = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    assert.deepEqual((await migrated.claims()).head, { position: 2, eventId: 'id-2' });
    assert.equal(migrated.db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = ?`).pluck().get(LOG_HEAD_ROW), '2 id-2', 'moved');
    assert.equal(migrated.db.prepare(`SELECT COUNT(*) FROM myko_meta WHERE key = 'log_head'`).pluck().get(), 0, 'and not left behind');
    migrated.appendNow([ev('c', 3)]);
    assert.deepEqual((await migrated.claims()).head, { position: 3, eventId: 'id-3' });
    // A server of an earlier version appends two more events and records its head where it knows to.
    migrated.db.prepare(`INSERT INTO myko_meta (key, value) VALUES ('log_head', '5 id-5')`).run();
    assert.deepEqual((await migrated.claims()).head, { position: 5, eventId: 'id-5' }, 'the head further along');
    migrated.appendNow([ev('d', 6), ev('e', 7), ev('f', 8)]);
    assert.deepEqual((await migrated.claims()).head, { position: 6, eventId: 'id-8' }, 'and this one once it is');
    await migrated.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
