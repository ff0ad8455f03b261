#!/usr/bin/env node
// Boot time over a large log (with and without a checkpoint) and verify
// throughput, against a raw read of the same rows in the same run.
//   node bench/log.mjs              (BENCH_LOG_EVENTS, default 1,000,000)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { SqliteEventStore } from '../packages/server/dist/store/sqlite/index.js';
import { IdentityTracker } from '../packages/server/dist/core/identity.js';
import { CLI, machineLine, startServer, stopServer, writeSection } from './section.mjs';

const N = Number(process.env.BENCH_LOG_EVENTS ?? 1_000_000);
const ITEMS = Math.max(1, Math.floor(N / 10)); // each item changed ~10 times, as a show's state is
const dir = mkdtempSync(path.join(os.tmpdir(), 'myko-bench-log-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// 1. Build the log directly through the store and the identity code the server uses (same rows, same ids).
let t0 = performance.now();
const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
const ids = new IdentityTracker(store.serverId);
const chunk = 10_000;
for (let done = 0; done < N; done += chunk) {
  const events = [];
  for (let i = done; i < Math.min(N, done + chunk); i++) {
    const id = `fixture-${i % ITEMS}`;
    events.push({ itemType: 'Fixture', changeType: 'SET', item: { id, level: i, hash: `h${i}` }, createdAt: new Date(1_700_000_000_000 + i).toISOString(), tx: `t${i}`, sourceId: store.serverId });
  }
  const staged = ids.stage(events);
  await store.append(events);
  ids.commit(staged);
}
await store.close();
const buildMs = performance.now() - t0;
console.log(`built ${N} events over ${ITEMS} items in ${(buildMs / 1000).toFixed(1)} s`);

// Baseline: read every row and parse it (what any replay must at least do).
t0 = performance.now();
const db = new Database(path.join(dir, 'myko.db'), { readonly: true });
let rows = 0;
for (const r of db.prepare('SELECT event FROM myko_events ORDER BY id').iterate()) {
  JSON.parse(r.event);
  rows++;
}
db.close();
const rawReadMs = performance.now() - t0;

// 2. Boot without a checkpoint: replay every event.
const cold = await startServer(['--data-dir', dir]);
await stopServer(cold); // a clean stop writes the checkpoint
// 3. Boot from the checkpoint (nothing to replay).
const warm = await startServer(['--data-dir', dir]);
await stopServer(warm);

// 4. Verify throughput.
t0 = performance.now();
const v = spawnSync(process.execPath, [CLI, 'verify', '--data-dir', dir], { encoding: 'utf8' });
const verifyMs = performance.now() - t0;
if (v.status !== 0) throw new Error(`verify failed: ${v.stdout}${v.stderr}`);

const f = (ms) => `${(ms / 1000).toFixed(2)} s`;
const md = `
## Event log: boot and verify (${N.toLocaleString('en')} events, ${ITEMS.toLocaleString('en')} items)

Machine: ${machineLine()}. Command: \`node bench/log.mjs\`.

| measure | Myko | baseline: read + JSON.parse every row | ratio |
| --- | ---: | ---: | ---: |
| boot, no checkpoint (replays every event): state loaded / ready to serve | ${f(cold.boot.ms ?? NaN)} / ${f(cold.readyMs)} | ${f(rawReadMs)} | ${((cold.boot.ms ?? NaN) / rawReadMs).toFixed(2)} |
| boot from the checkpoint (replayed ${warm.boot.replayed ?? '?'}): state loaded / ready | ${f(warm.boot.ms ?? NaN)} / ${f(warm.readyMs)} | ${f(rawReadMs)} | ${((warm.boot.ms ?? NaN) / rawReadMs).toFixed(2)} |
| \`myko verify\` (whole process) | ${f(verifyMs)} = ${Math.round(N / (verifyMs / 1000)).toLocaleString('en')} events/s | ${f(rawReadMs)} = ${Math.round(rows / (rawReadMs / 1000)).toLocaleString('en')} rows/s | ${(verifyMs / rawReadMs).toFixed(2)} |

"Ready" includes process start and module loading. Verify recomputes, per event, the data hash, the id, the parents and the chain (four SHA-256 and two canonical JSON passes).
`;
console.log(md);
writeSection('log', md);
