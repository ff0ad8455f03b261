/**
 * Snapshot items with reverse-reference fields (core/backrefs.ts), as a Rocketship executor makes them:
 * it sends its Target with `emitterIds: []` and then Emitters naming the Target, so state (and the
 * checkpoint's row) lists them while the Target's last SET does not. `myko verify` must pass that
 * store, and still find a snapshot item wrong in any other field. The field list is saved with the
 * checkpoint, so the CLI needs no plugins; a checkpoint saved before it was recorded gets it at the next
 * boot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { editSnapshot, startTestServer, tamperedCopy, tempDir, TestClient } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { verifyLog } from './verify.js';
import type { MykoPlugin } from '../core/registry.js';

const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
const rig: MykoPlugin = {
  name: 'rig',
  itemTypes: [{ name: 'Rig', backrefs: [{ field: 'emitterIds', from: 'Beam', via: 'rigId' }] }, { name: 'Beam' }],
};

/**
 * The CLI, verifyLog on this thread, and verifyLog as a large log is verified: workers that read the
 * file, one of them summarising the snapshot (log/verify-snapshot.ts SnapshotSummary), the derived
 * type's items sent in full. All must agree.
 */
async function verifyBoth(dir: string) {
  const cmd = spawnSync(process.execPath, [cli, 'verify', '--data-dir', dir], { encoding: 'utf8', timeout: 60_000 });
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  let here;
  try {
    here = await verifyLog(store, { threads: 0 });
    assert.equal(cmd.status === 0, here.ok, `myko verify and verifyLog agree (${cmd.stdout}${cmd.stderr})`);
  } finally {
    await store.close();
  }
  const shared = new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' });
  try {
    const reading = await verifyLog(shared, { threads: 2, chunk: 3 });
    assert.deepEqual({ ...reading, ms: 0 }, { ...here, ms: 0 });
  } finally {
    await shared.close();
  }
  return here;
}

test('verify passes a snapshot whose items hold reverse-reference ids their SET did not send, and finds any other difference', async () => {
  const dir = tempDir();
  const dirs = [dir];
  try {
    const ts = await startTestServer({ dataDir: dir, plugins: [rig] });
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event', data: { itemType: 'Rig', changeType: 'SET', item: { id: 'r1', name: 'truss', emitterIds: [] } } });
    c.send({
      event: 'ws:m:event-batch',
      data: ['b1', 'b2', 'b3'].map((id) => ({ itemType: 'Beam', changeType: 'SET', item: { id, rigId: 'r1' } })),
    });
    await c.sync();
    assert.deepEqual(ts.server.state.get('Rig', 'r1')?.emitterIds, ['b1', 'b2', 'b3'], 'state lists the beams');
    await c.close();
    await ts.close(); // a clean stop saves the checkpoint, with the rig as state holds it

    const db = new Database(join(dir, 'myko.db'), { readonly: true });
    const derived = db.prepare(`SELECT value FROM myko_meta WHERE key = 'checkpoint_derived'`).get() as { value: string };
    db.close();
    const saved = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    const savedRig = [...(await saved.loadCheckpoint()).items].find((x) => x.itemType === 'Rig' && x.item.id === 'r1');
    await saved.close();
    assert.deepEqual(savedRig?.item.emitterIds, ['b1', 'b2', 'b3'], 'the snapshot holds the derived ids');
    assert.deepEqual(JSON.parse(derived.value), { Rig: ['emitterIds'] });
    assert.equal((await verifyBoth(dir)).ok, true);

    // Another field of the rig wrong in the snapshot, its digest made to match (a checkpointer bug): found.
    const wrong = tamperedCopy(dir, (db) =>
      editSnapshot(db, (es) => es.map((e) => (e[0] === 'Rig' && e[2] ? [e[0], e[1], { ...e[2], name: 'tower' }, e[3]] : e)), { consistent: true }),
    );
    dirs.push(wrong);
    const r = await verifyBoth(wrong);
    assert.equal(r.ok, false);
    assert.equal(r.failure?.itemId, 'r1');
    assert.match(r.failure!.reason, /^snapshot: the item differs from its last SET .*beside emitterIds/);

    // A checkpoint saved before the field list was recorded: verify cannot tell the derived ids from a
    // wrong item, and says so; the next boot records the list (nothing else to write) and verify passes.
    const old = tamperedCopy(dir, (db) => {
      db.prepare(`DELETE FROM myko_meta WHERE key = 'checkpoint_derived'`).run();
    });
    dirs.push(old);
    assert.equal((await verifyBoth(old)).ok, false);
    const again = await startTestServer({ dataDir: old, plugins: [rig] });
    await again.close();
    assert.equal((await verifyBoth(old)).ok, true);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
