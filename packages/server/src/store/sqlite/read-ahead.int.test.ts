/**
 * A boot's replay of a long log reads ahead on a thread of its own (read-ahead.ts): the same events, in
 * the same order, with their positions, as the store's own pages; the thread stops when the replay
 * stops early; a row that does not parse fails the replay with its position; and when the thread
 * cannot read, the rest is read on the caller's connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../../testing/index.js';
import { READ_AHEAD_MIN_EVENTS, SqliteEventStore } from './index.js';
import { readAhead } from './read-ahead.js';
import { pagesAfter, type NewEvent, type StoredEvent } from '../event-store.js';
import { IdentityTracker } from '../../core/identity.js';
import { MykoServer } from '../../server.js';

const LONG = READ_AHEAD_MIN_EVENTS + 8_000; // a multiple of 10: n / 10 items

/** A log of `n` events over n / 10 items, identified as the server identifies them. */
async function longLog(dir: string, n: number): Promise<SqliteEventStore> {
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  const ids = new IdentityTracker(store.serverId);
  for (let done = 0; done < n; done += 10_000) {
    const events: NewEvent[] = [];
    for (let i = done; i < Math.min(n, done + 10_000); i++)
      events.push({
        itemType: 'Fixture',
        changeType: 'SET',
        item: { id: `f${i % (n / 10)}`, level: i, hash: `h${i}` } as MItem,
        createdAt: new Date(1_700_000_000_000 + i).toISOString(),
        tx: `t${i}`,
        sourceId: store.serverId,
      });
    const staged = ids.stage(events);
    store.appendNow(events);
    ids.commit(staged);
  }
  return store;
}

const collect = async (chunks: AsyncIterable<StoredEvent[]>): Promise<StoredEvent[][]> => {
  const out: StoredEvent[][] = [];
  for await (const c of chunks) out.push(c);
  return out;
};

test('a long replay reads ahead: every event after the position, in order, with its position, in chunks', async () => {
  const dir = tempDir('myko-read-ahead-');
  const store = await longLog(dir, LONG);
  try {
    const after = 1_234;
    const chunks = await collect(store.replay(after, 2_000));
    const events = chunks.flat();
    assert.equal(events.length, LONG - after);
    assert.ok(chunks.every((c) => c.length <= 2_000 && c.length > 0));
    events.forEach((e, i) => assert.equal(e.position, after + 1 + i));
    // The same objects the store's own pages give (parsed rows, position in place).
    const here = (await collect(pagesAfter((a, n) => store.readAfter(a, n), after, 2_000))).flat();
    assert.deepEqual(events[0], here[0]);
    assert.deepEqual(events.at(-1), here.at(-1));
    assert.deepEqual(
      events.map((e) => e.identity!._id),
      here.map((e) => e.identity!._id),
    );
  } finally {
    await store.close();
  }
});

test('a replay stopped early stops its thread, and the store closes', async () => {
  const dir = tempDir('myko-read-ahead-');
  const store = await longLog(dir, LONG);
  let seen = 0;
  for await (const c of store.replay(0, 1_000)) {
    seen += c.length;
    if (seen >= 3_000) break;
  }
  assert.equal(seen, 3_000);
  await store.close();
  // Had the thread kept running, it would hold the file open and this test's process would not end.
});

test('a row that does not parse fails the replay with its position', async () => {
  const dir = tempDir('myko-read-ahead-');
  const store = await longLog(dir, LONG);
  try {
    store.db.prepare(`UPDATE myko_events SET event = '{"itemType":' WHERE id = ?`).run(40_001);
    const chunks = store.replay(0, 2_000);
    await assert.rejects(collect(chunks), /row at position 40001 does not parse/);
  } finally {
    await store.close();
  }
});

test('when the thread cannot read, the rest is read on the caller’s connection', async () => {
  const dir = tempDir('myko-read-ahead-');
  const store = await longLog(dir, 30_000);
  try {
    const rest = (from: number) => pagesAfter((a, n) => store.readAfter(a, n), from, 5_000);
    const events = (await collect(readAhead(join(dir, 'no-such.db'), 100, 30_000, 5_000, rest))).flat();
    assert.equal(events.length, 30_000 - 100);
    assert.equal(events[0]!.position, 101);
    assert.equal(events.at(-1)!.position, 30_000);
  } finally {
    await store.close();
  }
});

test('a server boots from a long log with no checkpoint: the state and the position of a full replay', async () => {
  const dir = tempDir('myko-read-ahead-');
  await (await longLog(dir, LONG)).close();
  const server = await MykoServer.start({ config: { dataDir: dir, port: 0, sqliteSync: 'normal' } });
  try {
    assert.equal(server.bootStats.replayed, LONG);
    assert.equal(server.bootStats.checkpointPosition, 0);
    assert.equal(server.ctx.state.count('Fixture'), LONG / 10);
    // Each item holds its last SET: item f0's is event LONG - LONG / 10.
    assert.equal(server.ctx.state.get('Fixture', 'f0')!['level'], LONG - LONG / 10);
    assert.ok(server.ctx.writer.position >= LONG);
  } finally {
    await server.stop();
  }
});
