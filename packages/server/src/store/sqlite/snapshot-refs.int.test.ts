/**
 * Snapshot entries that name the log row holding them (RowRefs, checkpoint.ts): what the checkpointer
 * saves as a reference and what it still saves whole, what a load gives back, and what a reference that
 * cannot hold does at load, at boot and in `myko verify`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { MItem } from '@myko/protocol';
import { editSnapshot, startTestServer, tamperedCopy, tempDir, TestClient } from '../../testing/index.js';
import { SqliteEventStore } from './index.js';
import { segmentHash, makeSnapshotDigest } from './checkpoint.js';
import { IdentityTracker } from '../../core/identity.js';
import type { NewEvent, StoredEvent } from '../event-store.js';
import { verifyLog } from '../../log/verify.js';

/** Events with identities, appended through the store as the writer does. */
function appendIdentified(store: SqliteEventStore, ids: IdentityTracker, events: Omit<NewEvent, 'createdAt' | 'tx' | 'sourceId'>[]): StoredEvent[] {
  const full = events.map((e, i) => ({ ...e, createdAt: new Date(1_700_000_000_000 + i).toISOString(), tx: `t${i}`, sourceId: store.serverId })) as NewEvent[];
  const staged = ids.stage(full);
  const stored = store.appendNow(full);
  ids.commit(staged);
  return stored;
}

const segmentTexts = (db: Database.Database) => db.prepare(`SELECT body FROM myko_snapshot ORDER BY seq`).pluck().all() as string[];

async function verifyDir(dataDir: string) {
  const store = new SqliteEventStore({ dataDir, sync: 'normal', lock: 'write' });
  try {
    return await verifyLog(store);
  } finally {
    await store.close();
  }
}

test('a reference is saved as its row position; a load gives the row item and the row event as the only leaf', async () => {
  const dir = tempDir('myko-snapshot-refs-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    const ids = new IdentityTracker(store.serverId);
    const [a1, b1, a2, bDel] = appendIdentified(store, ids, [
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level: 1, hash: 'h1' } as MItem },
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'b', level: 1, hash: 'h2' } as MItem },
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', zed: 'last', level: 2, hash: 'h3' } as MItem },
      { itemType: 'Lamp', changeType: 'DEL', item: { id: 'b' } as MItem },
    ]);
    const entries = await store.saveCheckpoint({
      position: bDel!.position,
      eventId: bDel!.identity!._id,
      chain: ids.chain,
      upserts: [{ itemType: 'Lamp', item: a2!.item, pids: [a2!.identity!._id], row: a2!.position }],
      deletes: [{ itemType: 'Lamp', id: 'b', pids: [bDel!.identity!._id], row: bDel!.position }],
    });
    assert.equal(entries, 2);
    assert.deepEqual(segmentTexts(store.db), [`[${a2!.position},${bDel!.position}]`], 'two positions, no item text');
    const cp = await store.loadCheckpoint();
    assert.equal(cp.problem, undefined);
    assert.deepEqual([...cp.items], [{ itemType: 'Lamp', item: a2!.item }]);
    assert.equal(JSON.stringify([...cp.items][0]!.item), JSON.stringify(a2!.item), 'the item as it was stored, members in the same order');
    assert.deepEqual(
      [...cp.leaves].sort((x, y) => (x.id < y.id ? -1 : 1)),
      [
        { itemType: 'Lamp', id: 'a', pids: [a2!.identity!._id] },
        { itemType: 'Lamp', id: 'b', pids: [bDel!.identity!._id] },
      ],
    );
    // A later whole entry supersedes a reference, and a later reference a whole entry.
    await store.saveCheckpoint({ position: bDel!.position, eventId: bDel!.identity!._id, chain: ids.chain, upserts: [{ itemType: 'Lamp', item: { id: 'a', level: 7 } as MItem, pids: ['x'] }], deletes: [] });
    assert.deepEqual([...(await store.loadCheckpoint()).items].map((x) => x.item), [{ id: 'a', level: 7 }]);
    await store.saveCheckpoint({ position: bDel!.position, eventId: bDel!.identity!._id, chain: ids.chain, upserts: [{ itemType: 'Lamp', item: b1!.item, pids: [b1!.identity!._id], row: b1!.position }], deletes: [] });
    const last = await store.loadCheckpoint();
    assert.deepEqual([...last.items].map((x) => x.item.id).sort(), ['a', 'b']);
    assert.equal(last.entries, 4);
    void a1;
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reference that names no row at or before the checkpoint, or a row that is not its entry, makes the checkpoint unusable', async () => {
  const dir = tempDir('myko-snapshot-refs-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    const ids = new IdentityTracker(store.serverId);
    const [a1, bDel, c1] = appendIdentified(store, ids, [
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level: 1, hash: 'h1' } as MItem },
      { itemType: 'Lamp', changeType: 'DEL', item: { id: 'b' } as MItem },
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'c', level: 1, hash: 'h3' } as MItem },
    ]);
    const at = bDel!.position; // c1 is after the checkpoint
    await store.saveCheckpoint({ position: at, eventId: bDel!.identity!._id, chain: '', upserts: [{ itemType: 'Lamp', item: a1!.item, pids: [a1!.identity!._id], row: a1!.position }], deletes: [] });
    assert.equal((await store.loadCheckpoint()).problem, undefined);
    /** The segment made to hold `body`, its hash and the digest made to agree (a checkpointer bug, not damage). */
    const saveBody = (body: string) => {
      store.db.prepare(`UPDATE myko_snapshot SET body = ?, hash = ?`).run(body, segmentHash(body).toString('hex'));
      store.db.prepare(`UPDATE myko_meta SET value = ? WHERE key = 'checkpoint_digest'`).run(makeSnapshotDigest(store.db)());
    };
    for (const [body, problem] of [
      [`[${c1!.position}]`, /names no log row at or before the checkpoint's position/],
      [`[999]`, /names no log row at or before/],
      [`[0]`, /names no log row/],
      [`[1.5]`, /names no log row/],
    ] as const) {
      saveBody(body);
      const cp = await store.loadCheckpoint();
      assert.match(cp.problem ?? '', problem, body);
      assert.equal([...cp.items].length, 0, `${body}: no items from an unusable snapshot`);
    }
    // A row that is there but whose event is not what an entry needs.
    saveBody(`[${a1!.position}]`);
    store.db.prepare(`UPDATE myko_events SET event = ? WHERE id = ?`).run('{"not json', a1!.position);
    assert.match((await store.loadCheckpoint()).problem ?? '', /does not parse/);
    store.db.prepare(`UPDATE myko_events SET event = ? WHERE id = ?`).run(JSON.stringify({ ...a1, identity: undefined }), a1!.position);
    assert.match((await store.loadCheckpoint()).problem ?? '', /has no event id/);
    store.db.prepare(`UPDATE myko_events SET event = ? WHERE id = ?`).run(JSON.stringify({ ...a1, item: null }), a1!.position);
    assert.match((await store.loadCheckpoint()).problem ?? '', /is not an event of an item/);
    store.db.prepare(`UPDATE myko_events SET event = ? WHERE id = ?`).run(JSON.stringify({ ...a1, changeType: 'PATCH' }), a1!.position);
    assert.match((await store.loadCheckpoint()).problem ?? '', /is neither a SET nor a DEL/);
    // The claims (digest only) do not read the log; verify and boot load the checkpoint and find it.
    assert.equal((await store.claims()).checkpoint?.problem, undefined);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the server saves what the log holds as references and the rest whole; a boot from it gives the same state; verify passes', async () => {
  const dataDir = tempDir('myko-snapshot-refs-');
  try {
    let ts = await startTestServer({ dataDir, config: { checkpointEvery: 1_000_000, checkpointIntervalMs: 600_000 } });
    const c = await TestClient.connect(ts.url);
    const send = async (data: unknown[]) => {
      c.send({ event: 'ws:m:event-batch', data });
      await c.sync();
    };
    await send(['a', 'b', 'c', 'd'].map((id, i) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, level: i } })));
    // The same item twice in one batch: its last event is the reference.
    await send([
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level: 10 } },
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level: 11 } },
    ]);
    // An equal SET with its members in another order: state keeps the earlier object, so 'b' is saved whole.
    const b = ts.server.state.get('Lamp', 'b')!;
    await send([{ itemType: 'Lamp', changeType: 'SET', item: { level: 1, id: 'b', hash: b.hash } }]);
    assert.equal(ts.server.state.get('Lamp', 'b'), b, 'the equal SET kept the earlier object');
    await send([{ itemType: 'Lamp', changeType: 'DEL', item: { id: 'c' } }]);
    const before = JSON.stringify([...ts.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)));
    await c.close();
    await ts.close(); // the clean stop checkpoints everything
    const db = new Database(`${dataDir}/myko.db`, { readonly: true });
    const rowOf = (id: string) => db.prepare(`SELECT max(id) FROM myko_events WHERE item_type = 'Lamp' AND item_id = ?`).pluck().get(id) as number;
    const saved = segmentTexts(db).flatMap((t) => JSON.parse(t) as unknown[]);
    const last = Object.fromEntries(['a', 'b', 'c', 'd'].map((id) => [id, rowOf(id)]));
    db.close();
    for (const id of ['a', 'c', 'd']) assert.ok(saved.includes(last[id]), `Lamp ${id} saved as its last row, ${last[id]}`);
    assert.ok(!saved.includes(last.b), 'Lamp b is not its last row (an equal SET)');
    assert.ok(saved.some((e) => Array.isArray(e) && e[0] === 'Lamp' && e[1] === 'b' && (e[2] as MItem).level === 1), 'Lamp b saved whole');

    ts = await startTestServer({ dataDir });
    assert.equal(ts.server.bootStats.replayed, 0, 'booted from the checkpoint alone');
    assert.equal(JSON.stringify([...ts.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1))), before, 'the same state, members in the same order');
    // The next event of a referenced item names the referenced row's event as its parent: verify checks it.
    const c2 = await TestClient.connect(ts.url);
    c2.send({ event: 'ws:m:event-batch', data: [{ itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level: 12 } }, { itemType: 'Lamp', changeType: 'SET', item: { id: 'c', level: 1 } }] });
    await c2.sync();
    await c2.close();
    await ts.close();
    assert.equal((await verifyDir(dataDir)).ok, true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a reference to the wrong row is found by verify; one to a row that is not there is refused at boot, which replays the log', async () => {
  const dataDir = tempDir('myko-snapshot-refs-');
  const dirs = [dataDir];
  try {
    let ts = await startTestServer({ dataDir });
    const c = await TestClient.connect(ts.url);
    for (const level of [1, 2, 3]) {
      c.send({ event: 'ws:m:event-batch', data: [{ itemType: 'Lamp', changeType: 'SET', item: { id: 'a', level } }] });
      await c.sync();
    }
    await c.close();
    await ts.close();
    const firstRow = (db: Database.Database) => db.prepare(`SELECT min(id) FROM myko_events WHERE item_type = 'Lamp'`).pluck().get() as number;
    const lastRow = (db: Database.Database) => db.prepare(`SELECT max(id) FROM myko_events WHERE item_type = 'Lamp'`).pluck().get() as number;
    /** The snapshot's reference to Lamp a's last row replaced by `to(db)`, segments and digest made to agree. */
    const retarget = (to: (db: Database.Database) => number) =>
      tamperedCopy(dataDir, (db) => {
        const from = lastRow(db);
        const rows = db.prepare(`SELECT seq, body FROM myko_snapshot`).all() as { seq: number; body: string }[];
        assert.ok(rows.some((r) => (JSON.parse(r.body) as unknown[]).includes(from)), 'Lamp a is saved as a reference');
        for (const r of rows) {
          const body = JSON.stringify((JSON.parse(r.body) as unknown[]).map((e) => (e === from ? to(db) : e)));
          db.prepare(`UPDATE myko_snapshot SET body = ?, hash = ? WHERE seq = ?`).run(body, segmentHash(body).toString('hex'), r.seq);
        }
        db.prepare(`UPDATE myko_meta SET value = ? WHERE key = 'checkpoint_digest'`).run(makeSnapshotDigest(db)());
      });
    const older = retarget(firstRow);
    dirs.push(older);
    const wrong = await verifyDir(older);
    assert.equal(wrong.ok, false);
    assert.match(wrong.failure!.reason, /^snapshot: /);
    assert.equal(wrong.failure!.itemId, 'a');

    const missing = retarget(() => 1e9);
    dirs.push(missing);
    const r = await verifyDir(missing);
    assert.match(r.failure?.reason ?? '', /names no log row at or before the checkpoint's position/);
    ts = await startTestServer({ dataDir: missing });
    assert.equal(ts.server.bootStats.checkpointPosition, 0, 'the checkpoint was discarded');
    assert.equal(ts.server.state.get('Lamp', 'a')?.level, 3, 'the log replayed');
    await ts.close();
    assert.equal((await verifyDir(missing)).ok, true, 'the checkpoint saved at that stop replaced the bad one');

    // editSnapshot (the tests' tool) hands references to its edit as the entries they stand for.
    const edited = tamperedCopy(dataDir, (db) => editSnapshot(db, (es) => es.map((e) => (e[1] === 'a' ? [e[0], e[1], { ...e[2], level: 99 }, e[3]] : e)), { consistent: true }));
    dirs.push(edited);
    assert.equal((await verifyDir(edited)).failure?.itemId, 'a');
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
