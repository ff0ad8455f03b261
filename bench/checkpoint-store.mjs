#!/usr/bin/env node
// The SQLite store's checkpoint alone (no server): load of a 200,000-item snapshot (time, heap)
// and five checkpoints rewriting 20,000 of those items each. For A/B runs of the checkpoint code:
//
//   node --expose-gc bench/checkpoint-store.mjs [REPO_ROOT]     REPO_ROOT: a built checkout (default: this one)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const { SqliteEventStore } = await import(path.join(root, 'packages/server/dist/store/sqlite/index.js'));
if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const dir = mkdtempSync(path.join(os.tmpdir(), 'myko-ckpt-'));
const N = 200_000;
const item = (i, v) => ({ id: `item-${i}`, n: v, payload: `p-${i}-`.padEnd(64, 'x'), hash: 'h'.repeat(64) });
try {
  let st = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  await st.loadCheckpoint();
  await st.saveCheckpoint({ position: 1, eventId: 'e', chain: 'c', upserts: Array.from({ length: N }, (_, i) => ({ itemType: 'T', item: item(i, 0), pids: ['a'.repeat(64)] })), deletes: [] });
  await st.close();
  st = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  const mem = () => (gc(), process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers);
  const h0 = mem();
  let t0 = performance.now();
  const cp = await st.loadCheckpoint();
  const loadMs = performance.now() - t0;
  const heapMiB = (mem() - h0) / 2 ** 20;
  const saves = [];
  for (let r = 1; r <= 5; r++) {
    const upserts = Array.from({ length: 20_000 }, (_, k) => ({ itemType: 'T', item: item((r * 20_000 + k) % N, r), pids: ['b'.repeat(64)] }));
    t0 = performance.now();
    await st.saveCheckpoint({ position: 1 + r, eventId: `e${r}`, chain: 'c', upserts, deletes: [] });
    saves.push(performance.now() - t0);
  }
  const problem = (await st.claims()).checkpoint?.problem ?? null;
  await st.close();
  console.log(JSON.stringify({ root, rows: [...cp.items].length, loadMs: Math.round(loadMs), loadHeapMiB: +heapMiB.toFixed(1), checkpoint20kMs: saves.map(Math.round), problem }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
