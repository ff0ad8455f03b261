/**
 * The snapshot as segments (checkpoint.ts): what a load gives back after every kind of checkpoint, the
 * digest saved with it, what a changed segment does, and a compaction's drop of superseded segments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MItem } from '@myko/protocol';
import { editSnapshot, exited, spawnServer, startTestServer, tempDir, TestClient } from '../../testing/index.js';
import { mykoVerify } from '../../fault/support.js';
import { SqliteEventStore } from './index.js';
import { makeSnapshotDigest } from './checkpoint.js';
import type { CheckpointDelta } from '../event-store.js';
import { verifyLog } from '../../log/verify.js';

const item = (id: string, n: number): MItem => ({ id, n, hash: `h-${id}-${n}` }) as MItem;
let position = 0;
const delta = (upserts: [string, number][], deletes: string[] = [], more: Partial<CheckpointDelta> = {}): CheckpointDelta => ({
  position: ++position,
  eventId: `e${position}`,
  chain: `c${position}`,
  upserts: upserts.map(([id, n]) => ({ itemType: 'Lamp', item: item(id, n), pids: [`p-${id}-${n}`] })),
  deletes: deletes.map((id) => ({ itemType: 'Lamp', id, pids: [`d-${id}`] })),
  ...more,
});

const savedDigest = (store: SqliteEventStore) =>
  (store.db.prepare(`SELECT value FROM myko_meta WHERE key = 'checkpoint_digest'`).get() as { value: string } | undefined)?.value;

/** The saved digest is the segments', claims see no problem, and a load gives exactly `items` (id → n) and `leaves` (id → pid). */
async function assertSnapshot(store: SqliteEventStore, when: string, items: Record<string, number>, leaves: Record<string, string>): Promise<void> {
  assert.equal(savedDigest(store), makeSnapshotDigest(store.db)(), `digest saved = digest of the segments, ${when}`);
  assert.equal((await store.claims()).checkpoint?.problem, undefined, when);
  const cp = await store.loadCheckpoint();
  assert.equal(cp.problem, undefined, when);
  assert.deepEqual(Object.fromEntries([...cp.items].map((x) => [x.item.id, x.item.n]).sort()), items, `items, ${when}`);
  assert.deepEqual(Object.fromEntries([...cp.leaves].map((l) => [l.id, l.pids.join()]).sort()), leaves, `leaves, ${when}`);
  assert.equal(cp.position, position, when);
}

test('a load gives each item its last entry, deleted ones as leaves; the digest holds through failures, rollbacks and a restart', async () => {
  const dir = tempDir('myko-snapshot-');
  try {
    let store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    assert.deepEqual((await store.loadCheckpoint()).entries, 0, 'an empty store: an empty snapshot');
    assert.equal(await store.saveCheckpoint(delta([['a', 1], ['b', 1], ['c', 1]])), 3, 'a save answers the entries the snapshot holds');
    await assertSnapshot(store, 'after the first checkpoint', { a: 1, b: 1, c: 1 }, { a: 'p-a-1', b: 'p-b-1', c: 'p-c-1' });
    assert.equal(await store.saveCheckpoint(delta([['a', 2]], ['b'])), 5);
    await assertSnapshot(store, 'after an update and a delete', { a: 2, c: 1 }, { a: 'p-a-2', b: 'd-b', c: 'p-c-1' });
    await store.saveCheckpoint(delta([['b', 2]], ['c']));
    await assertSnapshot(store, 'after a re-set of a deleted item and a delete', { a: 2, b: 2 }, { a: 'p-a-2', b: 'p-b-2', c: 'd-c' });

    // A checkpoint that fails (an item JSON cannot hold): nothing of it is saved, and the next one is right.
    const bad = delta([['a', 3]]);
    (bad.upserts as { item: MItem }[]).push({ itemType: 'Lamp', item: { id: 'z', big: 1n } as unknown as MItem, pids: [] } as never);
    await assert.rejects(store.saveCheckpoint(bad));
    await store.saveCheckpoint(delta([['d', 1]]));
    await assertSnapshot(store, 'after a failed checkpoint', { a: 2, b: 2, d: 1 }, { a: 'p-a-2', b: 'p-b-2', c: 'd-c', d: 'p-d-1' });

    // A checkpoint inside an outer transaction that rolls back leaves nothing behind.
    const outerAt = position;
    await assert.rejects(
      store.atomically(async () => {
        await store.saveCheckpoint(delta([['a', 9], ['e', 1]], ['d']));
        throw new Error('outer failure');
      }),
    );
    position = outerAt;
    await store.saveCheckpoint(delta([['f', 1]], ['a']));
    await assertSnapshot(store, 'after a rolled-back outer transaction', { b: 2, d: 1, f: 1 }, { a: 'd-a', b: 'p-b-2', c: 'd-c', d: 'p-d-1', f: 'p-f-1' });
    await store.close();

    // A restart loads the same, and builds on it.
    store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.saveCheckpoint(delta([['b', 3], ['g', 1]], ['f']));
    await assertSnapshot(store, 'after a checkpoint on a reopened store', { b: 3, d: 1, g: 1 }, { a: 'd-a', b: 'p-b-3', c: 'd-c', d: 'p-d-1', f: 'd-f', g: 'p-g-1' });
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a changed segment is found by claims and load and stays found across checkpoints; a replacing checkpoint starts clean', async () => {
  const dir = tempDir('myko-snapshot-');
  try {
    let store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.saveCheckpoint(delta([['a', 1], ['b', 1]]));
    await store.saveCheckpoint(delta([['g', 1]]));
    // An entry rewritten on disk behind the store: claims and load see it; nothing of the segments is parsed.
    editSnapshot(store.db, (es) => es.map((e) => (e[1] === 'g' ? [e[0], e[1], { id: 'g', n: 666 }, e[3]] : e)));
    assert.match((await store.claims()).checkpoint?.problem ?? '', /do not match the digest/);
    // A checkpoint that does not touch it keeps it seen (the digest is built on the saved one, not recomputed).
    await store.saveCheckpoint(delta([['b', 4]]));
    assert.match((await store.claims()).checkpoint?.problem ?? '', /do not match the digest/);
    await store.close();
    store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    const cp = await store.loadCheckpoint();
    assert.match(cp.problem ?? '', /do not match the digest/);
    assert.equal([...cp.items].length, 0, 'a snapshot that does not match its digest gives no items');
    // What boot then does: replay the log and save the snapshot whole.
    await store.saveCheckpoint(delta([['a', 5]], [], { replace: true }));
    await assertSnapshot(store, 'after a replacing checkpoint', { a: 5 }, { a: 'p-a-5' });
    assert.equal((store.db.prepare(`SELECT count(*) AS n FROM myko_snapshot`).get() as { n: number }).n, 1);

    // A segment whose saved hash was changed (what a compaction XORs out when it drops it) is found too.
    store.db.prepare(`UPDATE myko_snapshot SET hash = ?`).run('0'.repeat(64));
    assert.match((await store.loadCheckpoint()).problem ?? '', /saved hash does not match its text/);
    // An entry that is not one (with segments, hashes and digest made to agree) fails the load loudly.
    editSnapshot(store.db, () => [['Lamp', 'a', { id: 'not-a', n: 1 }, []]], { consistent: true });
    await assert.rejects(store.loadCheckpoint(), /malformed entry/);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dropBefore removes the segments saved before a position without reading them, the digest and the entries kept right', async () => {
  const dir = tempDir('myko-snapshot-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.saveCheckpoint(delta([['a', 1], ['b', 1]]));
    await store.saveCheckpoint(delta([['a', 2]]));
    const from = position + 1;
    // A compaction: every item written again (a slice per checkpoint), the last slice dropping what came before.
    await store.saveCheckpoint(delta([['a', 2]]));
    assert.equal(await store.saveCheckpoint(delta([['b', 1]], [], { dropBefore: from })), 2);
    await assertSnapshot(store, 'after the drop', { a: 2, b: 1 }, { a: 'p-a-2', b: 'p-b-1' });
    assert.deepEqual(store.db.prepare(`SELECT position FROM myko_snapshot ORDER BY seq`).pluck().all(), [from, from + 1]);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the server compacts a snapshot of items changed again and again: entries stay within twice the items, boot and verify agree', async () => {
  const dataDir = tempDir('myko-snapshot-');
  try {
    // 4 lamps, each SET 60 times, a checkpoint every 4 changed items: 60 checkpoints of 4 entries.
    let ts = await startTestServer({ dataDir, config: { checkpointEvery: 4, checkpointIntervalMs: 600_000 } });
    const c = await TestClient.connect(ts.url);
    for (let round = 1; round <= 60; round++) {
      c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c', 'd'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, round } })) });
      await c.sync();
    }
    await c.close();
    await ts.close();
    const store = new SqliteEventStore({ dataDir, sync: 'normal' });
    const cp = await store.loadCheckpoint();
    const items = [...cp.leaves].length; // every item the snapshot holds: the lamps, and the server's own (Server, Client)
    assert.equal(cp.problem, undefined);
    assert.ok(cp.entries! <= 2 * items + 2 * 4 + 4, `entries ${cp.entries} for ${items} items: compacted (60 checkpoints wrote ${60 * 4} lamp entries)`);
    await store.close();
    // A boot from it has every lamp at its last round, and the log verifies against the snapshot.
    ts = await startTestServer({ dataDir, config: { checkpointEvery: 4 } });
    assert.equal(ts.server.bootStats.replayed, 0, 'the final checkpoint covers the whole log');
    assert.deepEqual([...ts.server.state.all('Lamp')].map((x) => [x.id, x.round]).sort(), [['a', 60], ['b', 60], ['c', 60], ['d', 60]]);
    await ts.close();
    const checked = new SqliteEventStore({ dataDir, sync: 'normal', lock: 'write' });
    try {
      assert.equal((await verifyLog(checked)).ok, true);
    } finally {
      await checked.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('upgrading a store whose snapshot is a row per item (before migration 5): the old snapshot is dropped, boot replays the log, verify passes', async () => {
  const dataDir = tempDir('myko-snapshot-');
  try {
    let ts = await startTestServer({ dataDir });
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c'].map((id, i) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, level: i } })) });
    await c.sync();
    await c.close();
    await ts.close();
    // Made to look as the store was before migration 5: the per-item tables, a snapshot row that lies, user_version 4.
    const db = new Database(join(dataDir, 'myko.db'));
    db.exec(`DROP TABLE myko_snapshot;
      CREATE TABLE myko_state (item_type TEXT NOT NULL, item_id TEXT NOT NULL, item TEXT NOT NULL, pids TEXT, PRIMARY KEY (item_type, item_id)) WITHOUT ROWID;
      CREATE TABLE myko_leaves (item_type TEXT NOT NULL, item_id TEXT NOT NULL, pids TEXT NOT NULL, PRIMARY KEY (item_type, item_id)) WITHOUT ROWID;
      INSERT INTO myko_state VALUES ('Lamp', 'a', '{"id":"a","level":999}', '[]');
      PRAGMA user_version = 4;`);
    db.close();
    ts = await startTestServer({ dataDir });
    assert.equal(ts.server.bootStats.checkpointPosition, 0, 'the old snapshot is not used');
    assert.ok(ts.server.bootStats.replayed >= 3, 'the whole log was replayed');
    assert.deepEqual([...ts.server.state.all('Lamp')].map((x) => [x.id, x.level]).sort(), [['a', 0], ['b', 1], ['c', 2]]);
    await ts.close();
    const store = new SqliteEventStore({ dataDir, sync: 'normal', lock: 'write' });
    try {
      assert.equal((store.db.prepare(`SELECT count(*) FROM sqlite_master WHERE name IN ('myko_state', 'myko_leaves')`).pluck().get() as number), 0);
      assert.equal((await verifyLog(store)).ok, true, 'the snapshot saved at that stop verifies');
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('kill -9 at any point of compactions loses no acknowledged write: each restart boots from the segments, verify passes', async () => {
  const dataDir = tempDir('myko-snapshot-');
  try {
    // A checkpoint every 4 changed items over a handful of items: compactions start, run and finish
    // every few checkpoints, so the kills below land before, during and after them.
    const acked = new Map<string, number>();
    let round = 0;
    for (const killAfter of [7, 13, 29]) {
      const { proc, url } = await spawnServer({ dataDir, env: { MYKO_CHECKPOINT_EVERY: '4', MYKO_CHECKPOINT_INTERVAL_MS: '600000' } });
      const c = await TestClient.connect(url);
      for (let k = 0; k < killAfter; k++) {
        round++;
        c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c', 'd'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, round } })) });
        await c.sync(); // the server answers in order: every event before this is committed
        for (const id of ['a', 'b', 'c', 'd']) acked.set(id, round);
      }
      proc.kill('SIGKILL');
      await exited(proc);
      await c.close().catch(() => undefined);
      assert.equal(mykoVerify(dataDir).status, 0, `verify after the kill at round ${round}`);
      const ts = await startTestServer({ dataDir });
      assert.deepEqual(
        Object.fromEntries([...ts.server.state.all('Lamp')].map((x) => [x.id, x.round])),
        Object.fromEntries(acked),
        `state after the kill at round ${round}`,
      );
      await ts.close();
    }
    const store = new SqliteEventStore({ dataDir, sync: 'normal' });
    const cp = await store.loadCheckpoint();
    await store.close();
    assert.equal(cp.problem, undefined);
    assert.ok(cp.entries! < round * 4, `compacted: ${cp.entries} entries after ${round * 4} lamp changes`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
