import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startTestServer, tempDir, TestClient } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { verifyLog } from './verify.js';

// `myko verify` holds the data directory's lock with a write transaction open, so that no connection
// writes while its workers read the file themselves (store/sqlite/open.ts, log/verify-pool.ts). What that must keep:
// verify and a server refuse each other's directory, and the workers see every committed event.

const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
const { MYKO_PROGRESS: _progress, ...env } = process.env;
const myko = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });

async function seededDir(): Promise<string> {
  const dataDir = tempDir();
  const ts = await startTestServer({ dataDir });
  const c = await TestClient.connect(ts.url);
  c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, level: 1 } })) });
  await c.sync();
  await c.close();
  await ts.close();
  return dataDir;
}

test('myko verify refuses a data directory a server has open; while verify holds one, a server refuses it and readers may read', async () => {
  const dir = await seededDir();
  try {
    const ts = await startTestServer({ dataDir: dir });
    try {
      const out = myko('verify', '--data-dir', dir);
      assert.equal(out.status, 1);
      assert.match(out.stderr, /in use by another myko process/);
    } finally {
      await ts.close();
    }
    const held = new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' });
    try {
      assert.throws(() => new SqliteEventStore({ dataDir: dir, sync: 'normal' }), /in use by another myko process/);
      const reader = new Database(held.readableFile()!, { readonly: true });
      const n = (reader.prepare('SELECT COUNT(*) AS n FROM myko_events').get() as { n: number }).n;
      reader.close();
      assert.equal(n, await held.lastPosition());
    } finally {
      await held.close();
    }
    const again = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
    await again.close();
    assert.equal(myko('verify', '--data-dir', dir).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verify with its workers reading the file finds every event of a store killed -9 (its last appends only in the WAL)', async () => {
  const dir = tempDir();
  try {
    const store = new URL('../store/sqlite/index.js', import.meta.url).href;
    const identity = new URL('../core/identity.js', import.meta.url).href;
    const killed = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `
        import { SqliteEventStore } from ${JSON.stringify(store)};
        import { IdentityTracker } from ${JSON.stringify(identity)};
        const store = new SqliteEventStore({ dataDir: ${JSON.stringify(dir)}, sync: 'full' });
        const ids = new IdentityTracker(store.serverId);
        for (let b = 0; b < 20; b++) {
          const events = [0, 1, 2, 3, 4].map((i) => ({ itemType: 'T', changeType: 'SET', item: { id: 'x' + i, v: b }, createdAt: new Date(1.7e12 + b * 10 + i).toISOString(), tx: 't' + b, sourceId: store.serverId }));
          const staged = ids.stage(events);
          await store.append(events);
          ids.commit(staged);
        }
        process.kill(process.pid, 'SIGKILL');`],
      { encoding: 'utf8' },
    );
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.ok(statSync(join(dir, 'myko.db-wal')).size > 0, 'the appends are in the WAL');
    // As `myko verify` opens it, first: the WAL is still there when the workers open the file.
    const shared = new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' });
    try {
      assert.deepEqual({ ...(await verifyLog(shared, { threads: 2, chunk: 3 })), ms: 0 }, { ok: true, checked: 100, lastPosition: 100, ms: 0 });
    } finally {
      await shared.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
