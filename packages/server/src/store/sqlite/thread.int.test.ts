/**
 * The store thread (thread.ts): once the connection is handed over, every call goes through the
 * thread and gives what the same call gives on the caller's thread; the data directory stays locked;
 * a checkpoint saved through it builds on the one saved before; and a store whose thread has stopped refuses writes with a
 * StoreError instead of losing them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../../testing/index.js';
import { CALLER_APPEND_MAX_EVENTS, SqliteEventStore } from './index.js';
import { StoreError, type NewEvent } from '../event-store.js';

const ev = (id: string, n: number, tx = 't'): NewEvent => ({
  itemType: 'Lamp',
  changeType: 'SET',
  item: { id, n } as MItem,
  createdAt: '2026-12-06T00:00:00.000Z',
  tx,
  sourceId: 's',
});

test('after useThread: appends, reads, checkpoints and side tables go through the thread, with the same answers', async () => {
  const dir = tempDir('myko-thread-');
  try {
    const local = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await local.append([ev('a', 1), ev('b', 1)]);
    await local.saveCheckpoint({ position: 2, eventId: null, chain: '', upserts: [{ itemType: 'Lamp', item: { id: 'a', n: 1 } as MItem, pids: ['x'] }], deletes: [] });
    const before = await local.claims();

    await local.useThread();
    assert.throws(() => local.db, StoreError, 'the connection is no longer on this thread');
    assert.throws(() => local.appendNow([ev('z', 0)]), StoreError);
    const stored = await local.append([ev('a', 2, 'tx2'), ev('c', 1, 'tx2')]);
    assert.deepEqual(stored.map((e) => e.position), [3, 4], 'positions come back in order');
    assert.deepEqual((await local.readAfter(0, 10)).map((e) => [e.position, e.item.id, (e.item as unknown as { n: number }).n]), [[1, 'a', 1], [2, 'b', 1], [3, 'a', 2], [4, 'c', 1]]);
    assert.deepEqual((await local.readHistory('Lamp', 'a')).map((e) => e.position), [1, 3]);
    assert.deepEqual((await local.readTx('tx2')).map((e) => e.item.id), ['a', 'c']);
    assert.equal(await local.countHistory('Lamp', 'a'), 2);
    assert.equal(await local.lastPosition(), 4);
    assert.equal((await local.readRawAfter(3, 10))[0]!.itemId, 'c');
    assert.deepEqual(before.checkpoint, (await local.claims()).checkpoint, 'the checkpoint claims read the same through the thread');
    // A checkpoint through the thread builds on the digest saved before it (claims would report a problem).
    await local.saveCheckpoint({ position: 4, eventId: null, chain: '', upserts: [{ itemType: 'Lamp', item: { id: 'c', n: 1 } as MItem, pids: ['y'] }], deletes: [] });
    assert.equal((await local.claims()).checkpoint?.problem, undefined);
    await local.sql('exec', 'CREATE TABLE side (k TEXT PRIMARY KEY, v INTEGER)');
    await local.sql('run', 'INSERT INTO side VALUES (?, ?)', ['k', 7]);
    assert.deepEqual(await local.sql('get', 'SELECT v FROM side WHERE k = ?', ['k']), { v: 7 });
    await local.ping();

    // The thread holds the data directory: a second store cannot open it.
    assert.throws(() => new SqliteEventStore({ dataDir: dir, sync: 'normal' }), /in use by another myko process/);

    await local.close();
    await assert.rejects(local.append([ev('d', 1)]), (err: Error) => err instanceof StoreError && /append failed: store thread stopped/.test(err.message));

    const again = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    assert.equal(await again.lastPosition(), 4, 'everything the thread committed is there, nothing after it stopped');
    assert.equal((await again.loadCheckpoint()).position, 4);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch crosses as one joined text: every row holds its event exactly as JSON.stringify gives it, NULs and all; a checkpoint gives each item and its leaves back as saved', async () => {
  const dir = tempDir('myko-thread-');
  const odd = ['nul\u0000inside', 'quote " and \\ backslash', 'line\u2028sep', 'lone \ud800 surrogate', 'emoji 🎛️', '', 'x'.repeat(20_000)];
  const events = (round: number): NewEvent[] =>
    odd.map((s, i) => ({ ...ev(`id-${round}-${i}`, i, `tx\u0000${round}`), item: { id: `id-${round}-${i}\u0000${s.replace(/\p{Cs}/gu, '').slice(0, 8)}`, label: s, nested: { s, list: [s, i] } } as MItem }));
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  try {
    const local = events(1);
    store.appendNow(local);
    await store.useThread();
    // More events than an append made on the caller's thread takes: this batch crosses.
    const threaded = [...events(2), ...events(3), ...events(4)];
    assert.ok(threaded.length > CALLER_APPEND_MAX_EVENTS);
    await store.append(threaded);
    assert.equal(store.appendsHere, 0);
    await store.append([]); // an empty batch is no row and no error
    const rows = await store.readRawAfter(0, 100);
    const sent = [...local, ...threaded];
    assert.equal(rows.length, sent.length);
    sent.forEach((e, i) => {
      const { position, ...rest } = e as NewEvent & { position: number };
      assert.equal(position, i + 1);
      assert.equal(rows[i]!.event, JSON.stringify(rest), `row ${i + 1}'s text`);
      assert.equal(rows[i]!.itemId, e.item.id);
    });
    // A checkpoint of the same items, NULs in the leaves: each item and its pids come back as saved.
    await store.saveCheckpoint({ position: sent.length, eventId: null, chain: '', upserts: sent.map((e) => ({ itemType: e.itemType, item: e.item, pids: [`p\u0000${e.item.id}`] })), deletes: [] });
    const cp = await store.loadCheckpoint();
    assert.equal(cp.problem, undefined, 'the rows match the digest saved with them');
    const byId = <T extends { id: string }>(a: T[]) => a.sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(byId([...cp.items].map((x) => x.item)), byId(sent.map((e) => e.item)));
    assert.deepEqual(byId([...cp.leaves].map((l) => ({ id: l.id, pids: l.pids }))), byId(sent.map((e) => ({ id: e.item.id, pids: [`p\u0000${e.item.id}`] }))));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the thread idle, a small append is made on the caller\'s connection; a larger one, or one behind a call in flight, goes to the thread, in call order; the thread\'s WAL checkpoints count the caller\'s rows', async () => {
  const dir = tempDir('myko-thread-');
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  try {
    await store.useThread();
    const one = await store.append([ev('a', 1)]);
    assert.deepEqual(one.map((e) => e.position), [1]);
    assert.equal(store.appendsHere, 1, 'one event, the thread idle: appended here');

    const many = Array.from({ length: CALLER_APPEND_MAX_EVENTS + 1 }, (_, i) => ev(`m${i}`, i));
    assert.deepEqual((await store.append(many)).map((e) => e.position), many.map((_, i) => i + 2));
    assert.equal(store.appendsHere, 1, 'a batch past the bound went to the thread');

    // A checkpoint sent to the thread and not yet answered: the next append queues behind it there.
    const saving = store.saveCheckpoint({ position: 1 + many.length, eventId: null, chain: '', upserts: [{ itemType: 'Lamp', item: { id: 'a', n: 1 } as MItem, pids: ['x'] }], deletes: [] });
    const behind = store.append([ev('b', 1)]);
    assert.equal(store.appendsHere, 1, 'not made here while the thread had a call in hand');
    await saving;
    assert.deepEqual((await behind).map((e) => e.position), [2 + many.length]);
    assert.equal((await store.claims()).checkpoint?.position, 1 + many.length);

    // The thread runs the WAL checkpoints now: it must see rows written by this thread's connection
    // alone. Pages copied into the database file by a checkpoint grow it; nothing else writes it.
    const dbFile = join(dir, 'myko.db');
    await new Promise((r) => setTimeout(r, 200)); // whatever the thread's own rows left in the WAL is checkpointed first
    const before = statSync(dbFile).size;
    const payload = 'p'.repeat(2000);
    let n = 0;
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: CALLER_APPEND_MAX_EVENTS }, () => ({ ...ev(`w${n}`, n++), item: { id: `w${n}`, payload } as MItem }));
      await store.append(batch);
    }
    // Each went here unless it met a WAL checkpoint holding the write slot (write-slot.ts): that one waited on the thread.
    assert.ok(store.appendsHere >= 1 + 35, `appended here: ${store.appendsHere - 1} of 40`);
    // Until the rows are in the file, not merely until it grew: a checkpoint that met these appends midway
    // copied part of them, and the rest follows at a later tick (up to 15 s, for a loaded machine).
    const expected = before + 40 * CALLER_APPEND_MAX_EVENTS * 2000 * 0.9;
    const deadline = Date.now() + 15_000;
    while (statSync(dbFile).size <= expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.ok(statSync(dbFile).size > expected, `checkpointed into the database file: ${before} → ${statSync(dbFile).size} bytes`);

    // The directory stays locked against any other opener, a read-only one included.
    assert.throws(() => new SqliteEventStore({ dataDir: dir, sync: 'normal' }), /in use by another myko process/);
    assert.throws(() => new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' }), /in use by another myko process/);
    await store.close();

    const again = new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' });
    const rows = await again.readAfter(0, 10_000);
    assert.deepEqual(rows.map((e) => e.position), rows.map((_, i) => i + 1), 'one gapless log from both connections');
    assert.equal(rows.length, 2 + many.length + 40 * CALLER_APPEND_MAX_EVENTS);
    assert.equal(rows[many.length + 1]!.item.id, 'b');
    await again.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a steady stream of single appends on the caller\'s connection: the thread\'s WAL checkpoints still copy every frame, so the WAL restarts and stays within its size', async () => {
  // Found with a show's load (one SET after another, each committed alone): checkpoints ran on the
  // thread while the caller appended, never copied the frames appended meanwhile, and the WAL was never
  // restarted. It grew by every commit's pages (136 MB after 20,000 SETs) while a checkpoint ran at every tick.
  const dir = tempDir('myko-thread-');
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  const wal = join(dir, 'myko.db-wal');
  try {
    await store.useThread();
    const payload = 'p'.repeat(600);
    // About 4 WAL frames (16 KiB) per commit: 16,000 commits would be ~300 MB of WAL never restarted.
    const commits = 16_000;
    let maxWal = 0;
    for (let i = 0; i < commits; i++) {
      await store.append([{ ...ev(`s${i % 50}`, i, `t${i}`), item: { id: `s${i % 50}`, n: i, payload } as MItem }]);
      if (i % 500 === 0) maxWal = Math.max(maxWal, statSync(wal).size);
    }
    maxWal = Math.max(maxWal, statSync(wal).size);
    assert.ok(store.appendsHere > commits * 0.9, `appended on the caller's connection (${store.appendsHere} of ${commits})`);
    // The checkpoints' bound is half the WAL's size limit (32 MiB). These commits come far faster than
    // a server's lone SETs (no fsync: about 60,000 frames a second), so on a loaded machine a late tick
    // and a long first pass let the WAL pass the bound by several MiB before it restarts (66 MiB seen
    // with the whole suite running beside it); never restarted, it passes 200 MiB.
    assert.ok(maxWal < 128 * 1024 * 1024, `the WAL restarted and stayed bounded: at most ${(maxWal / 1048576).toFixed(1)} MiB`);
    assert.equal(await store.lastPosition(), commits);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
