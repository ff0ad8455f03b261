/**
 * The checkpoint digest kept from in-memory row hashes (row-digests.ts): after
 * every kind of checkpoint, including failed ones and ones rolled back by an
 * outer transaction, the digest saved is the digest of the rows as stored
 * (README "The event log": the XOR of one SHA-256 per snapshot row).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { MItem } from '@myko/protocol';
import { tempDir } from '../../testing/index.js';
import { SqliteEventStore } from './index.js';
import { makeSnapshotDigest } from './checkpoint.js';
import type { CheckpointDelta } from '../event-store.js';

const item = (id: string, n: number): MItem => ({ id, n, hash: `h-${id}-${n}` }) as MItem;
let position = 0;
const delta = (upserts: [string, number][], deletes: string[] = [], replace = false): CheckpointDelta => ({
  ...(replace ? { replace } : {}),
  position: ++position,
  eventId: `e${position}`,
  chain: `c${position}`,
  upserts: upserts.map(([id, n]) => ({ itemType: 'Lamp', item: item(id, n), pids: [`p-${id}-${n}`] })),
  deletes: deletes.map((id) => ({ itemType: 'Lamp', id, pids: [`d-${id}`] })),
});

function savedDigest(store: SqliteEventStore): string | undefined {
  return (store.db.prepare(`SELECT value FROM myko_meta WHERE key = 'checkpoint_digest'`).get() as { value: string } | undefined)?.value;
}

async function assertMatches(store: SqliteEventStore, when: string): Promise<void> {
  assert.equal(savedDigest(store), makeSnapshotDigest(store.db)(), `digest saved = digest of the rows, ${when}`);
  assert.equal((await store.claims()).checkpoint?.problem, undefined, when);
}

test('checkpoint digest from in-memory row hashes: equals the rows through updates, deletes, re-sets, failures and rollbacks', async () => {
  const dir = tempDir('myko-digest-');
  try {
    let store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.loadCheckpoint();
    await store.saveCheckpoint(delta([['a', 1], ['b', 1], ['c', 1]]));
    await assertMatches(store, 'after the first checkpoint');
    await store.saveCheckpoint(delta([['a', 2]], ['b']));
    await assertMatches(store, 'after an update and a delete');
    await store.saveCheckpoint(delta([['b', 2]], ['c', 'never-existed']));
    await assertMatches(store, 'after a re-set of a deleted item (its leaf row stays) and deletes');

    // A checkpoint that fails part-way (an item JSON cannot store): rolled back, and the next one still right.
    const bad = delta([['a', 3]]);
    (bad.upserts as { item: MItem }[]).push({ itemType: 'Lamp', item: { id: 'z', big: 1n } as unknown as MItem, pids: [] } as never);
    await assert.rejects(store.saveCheckpoint(bad));
    await store.saveCheckpoint(delta([['d', 1]]));
    await assertMatches(store, 'after a failed checkpoint');
    assert.equal((store.db.prepare(`SELECT item FROM myko_state WHERE item_id = 'a'`).get() as { item: string }).item, JSON.stringify(item('a', 2)));

    // A checkpoint inside an outer transaction that rolls back.
    await assert.rejects(
      store.atomically(async () => {
        await store.saveCheckpoint(delta([['a', 9], ['e', 1]], ['d']));
        throw new Error('outer failure');
      }),
    );
    await store.saveCheckpoint(delta([['f', 1]], ['a']));
    await assertMatches(store, 'after a rolled-back outer transaction');
    await store.close();

    // Boot loads every row's hash; the next checkpoint builds on them.
    store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    assert.equal((await store.loadCheckpoint()).problem, undefined);
    await store.saveCheckpoint(delta([['b', 3], ['g', 1]], ['e', 'f']));
    await assertMatches(store, 'after a checkpoint on a loaded snapshot');

    // A row rewritten on disk behind the store: a checkpoint that does not touch it keeps it seen ...
    store.db.prepare(`UPDATE myko_state SET item = '{"id":"g","n":666}' WHERE item_id = 'g'`).run();
    await store.saveCheckpoint(delta([['b', 4]]));
    assert.match((await store.claims()).checkpoint?.problem ?? '', /do not match the digest/);
    // ... and the next boot discards the snapshot; the checkpoint after it replaces it whole.
    await store.close();
    store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    assert.match((await store.loadCheckpoint()).problem ?? '', /do not match the digest/);
    await store.saveCheckpoint(delta([['a', 5]], [], true));
    await assertMatches(store, 'after a replacing checkpoint');
    assert.equal((store.db.prepare(`SELECT count(*) AS n FROM myko_state`).get() as { n: number }).n, 1);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint hashes the rows it writes, not the old rows it replaces: an old row changed on disk is not read back', async () => {
  const dir = tempDir('myko-digest-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.loadCheckpoint();
    await store.saveCheckpoint(delta([['a', 1], ['b', 1]]));
    // Change a's stored text behind the store, then checkpoint a new a. Reading the old row back XORed
    // out the hash of the changed text instead of the one in the digest, so the digest saved no longer
    // matched the rows, though every row was again exactly as written.
    store.db.prepare(`UPDATE myko_state SET item = '{"id":"a","n":0}' WHERE item_id = 'a'`).run();
    await store.saveCheckpoint(delta([['a', 2]]));
    await assertMatches(store, 'after the changed row was rewritten');
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a boot load that fails part-way leaves no half-filled row hashes behind (a snapshot saved before digests)', async () => {
  const dir = tempDir('myko-digest-');
  try {
    const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await store.loadCheckpoint();
    await store.saveCheckpoint(delta([['a', 1], ['b', 1], ['c', 1]]));
    // As saved before digests existed, with a row the load cannot parse.
    store.db.prepare(`DELETE FROM myko_meta WHERE key = 'checkpoint_digest'`).run();
    store.db.prepare(`UPDATE myko_state SET item = '{not json' WHERE item_id = 'b'`).run();
    await assert.rejects(store.loadCheckpoint());
    store.db.prepare(`UPDATE myko_state SET item = ? WHERE item_id = 'b'`).run(JSON.stringify(item('b', 1)));
    // The next checkpoint starts from the rows (saved before digests: no digest to compare), not from the half load.
    await store.saveCheckpoint(delta([['d', 1]]));
    await assertMatches(store, 'after a failed load');
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
