/**
 * The WAL preallocated before serving (wal-prealloc.ts): it takes its full size once, at most 1/16 of
 * the free space; SQLite writes its frames into it; and a process killed with the zeros still behind
 * its last frames loses nothing it committed, over several crashes and restarts, with the store thread
 * and without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../testing/index.js';
import { SqliteEventStore } from './index.js';
import { preallocationEnd } from './wal-prealloc.js';
import { WAL_SIZE_LIMIT } from './wal-checkpoint.js';

const MiB = 1 << 20;

test('preallocationEnd: up to the target, never more than 1/16 of the free space, in whole MiB', () => {
  assert.equal(preallocationEnd(0, 100 * 1024 * MiB, 64 * MiB), 64 * MiB, 'plenty of room: the whole target');
  assert.equal(preallocationEnd(10 * MiB, 100 * 1024 * MiB, 64 * MiB), 64 * MiB, 'an existing WAL is extended to the target');
  assert.equal(preallocationEnd(80 * MiB, 100 * 1024 * MiB, 64 * MiB), 80 * MiB, 'a WAL already past the target is left alone');
  assert.equal(preallocationEnd(0, 160 * MiB, 64 * MiB), 10 * MiB, '160 MiB free: 10 MiB');
  assert.equal(preallocationEnd(0, 2 * MiB, 64 * MiB), 0, 'a 2 MiB tmpfs: nothing (less than 1 MiB of room)');
  assert.equal(preallocationEnd(4096, 17 * MiB, 64 * MiB), 4096 + MiB, 'whole MiB only');
});

/** A child process: open the store in `dir`, preallocate, append `n` events (one transaction each), then SIGKILL itself. */
function crashAfterWrites(dir: string, from: number, n: number, thread: boolean): void {
  const store = new URL('./index.js', import.meta.url).href;
  const script = `
    import { SqliteEventStore } from ${JSON.stringify(store)};
    const s = new SqliteEventStore({ dataDir: ${JSON.stringify(dir)}, sync: 'full' });
    if (${thread}) await s.useThread();
    const bytes = await s.preallocateWal();
    process.stdout.write(String(bytes) + '\\n');
    for (let i = ${from}; i < ${from + n}; i++)
      await s.append([{ itemType: 'Lamp', changeType: 'SET', item: { id: 'l' + (i % 7), n: i }, createdAt: '2026-12-06T00:00:00.000Z', tx: 't' + i, sourceId: 's' }]);
    process.stdout.write('committed\\n');
    process.kill(process.pid, 'SIGKILL');
  `;
  // A file, not --eval: the store thread's Worker inherits the parent's exec arguments.
  const file = join(dir, `crash-${from}.mjs`);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', `the child died of SIGKILL (stderr: ${r.stderr})`);
  assert.match(r.stdout, /committed/);
}

for (const thread of [true, false]) {
  test(`a killed process leaves a preallocated WAL that recovers every committed event (${thread ? 'store thread' : 'no thread'})`, async () => {
    const dir = tempDir('myko-walpre-');
    try {
      crashAfterWrites(dir, 0, 300, thread);
      const wal = statSync(join(dir, 'myko.db-wal')).size;
      assert.ok(wal >= WAL_SIZE_LIMIT, `the WAL was preallocated to its limit (${wal} bytes)`);
      // Restart on the crashed files: recovery reads the frames and stops at the zeros. Twice more.
      crashAfterWrites(dir, 300, 200, thread);
      crashAfterWrites(dir, 500, 100, thread);
      const s = new SqliteEventStore({ dataDir: dir, sync: 'full' });
      try {
        assert.equal(await s.lastPosition(), 600, 'every committed event is there, once');
        const rows = await s.readAfter(0, 1000);
        assert.deepEqual(
          rows.map((e) => (e.item as unknown as { n: number }).n),
          Array.from({ length: 600 }, (_, i) => i),
        );
        assert.equal((await s.claims()).head?.position, 600, 'the log head matches the last row');
        assert.ok(await s.preallocateWal() === 0, 'a WAL already at its size is not written again');
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
