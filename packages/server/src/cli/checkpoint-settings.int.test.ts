import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ConfigError, resolveConfig } from '../config.js';
import { cliPath } from '../fault/support.js';
import { exited, spawnServer, tempDir, TestClient, until } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { rmSync } from 'node:fs';

/** myko_checkpoint_position from the server's /metrics. */
async function checkpointPosition(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^myko_checkpoint_position (\d+)$/m.exec(text);
  assert.ok(m, 'myko_checkpoint_position is served');
  return Number(m[1]);
}

/** The checkpoint the store holds, read once the server is gone. */
async function savedCheckpoint(dataDir: string): Promise<number> {
  const store = new SqliteEventStore({ dataDir, sync: 'full' });
  try {
    return (await store.claims()).checkpoint?.position ?? 0;
  } finally {
    await store.close();
  }
}

test('checkpoint settings: values from the environment, a value of 0 refused before serving', () => {
  const c = resolveConfig({}, { MYKO_CHECKPOINT_EVERY: '3', MYKO_CHECKPOINT_INTERVAL_MS: '600000' });
  assert.deepEqual([c.checkpointEvery, c.checkpointIntervalMs], [3, 600_000]);
  assert.throws(() => resolveConfig({ checkpointEvery: 0 }), ConfigError);
  assert.throws(() => resolveConfig({ checkpointIntervalMs: 0 }), ConfigError);
  const r = spawnSync(process.execPath, [cliPath, 'serve', '--checkpoint-every', '0', '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--checkpoint-every \/ MYKO_CHECKPOINT_EVERY must be at least 1/);
  const help = spawnSync(process.execPath, [cliPath, 'serve', '--help'], { encoding: 'utf8' }).stdout;
  for (const flag of ['--checkpoint-every', '--checkpoint-interval-ms']) assert.ok(help.includes(flag), flag);
});

test('MYKO_CHECKPOINT_EVERY decides when a checkpoint is saved: one a kill -9 keeps, and /metrics shows', async () => {
  for (const [every, expectSaved] of [
    ['3', true],
    ['1000000', false],
  ] as const) {
    const dataDir = tempDir();
    try {
      // The interval far away: only the count can trigger a checkpoint while this runs.
      const { proc, port, url } = await spawnServer({ dataDir, env: { MYKO_CHECKPOINT_EVERY: every, MYKO_CHECKPOINT_INTERVAL_MS: '600000' } });
      const c = await TestClient.connect(url);
      c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c', 'd'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, v: 1 } })) });
      await c.sync();
      if (expectSaved) await until(async () => (await checkpointPosition(port)) >= 4, 5000, 'a checkpoint after 3 changed items');
      else assert.equal(await checkpointPosition(port), 0, 'no checkpoint below the count');
      const seen = await checkpointPosition(port);
      await c.close();
      proc.kill('SIGKILL'); // no final checkpoint at shutdown: what is saved is what the count triggered
      await exited(proc);
      assert.equal(await savedCheckpoint(dataDir), seen, `every=${every}: the store holds the checkpoint /metrics showed`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
});
