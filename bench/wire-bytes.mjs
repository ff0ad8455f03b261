#!/usr/bin/env node
// Wire bytes of a fixed scenario, for A/B checks that a change keeps the same bytes:
//   node bench/wire-bytes.mjs PATH/TO/packages/server/dist/cli.js [port]
// Starts that build, loads 3,000 items (quotes, backslashes, non-ASCII, U+2028,
// an emoji, nested values), asks GetAllItems twice, GetItemsByIds with a
// repeated id, a windowed query, changes an item, asks again, and asks once
// over CBOR; prints a sha256 of every query response received (JSON and CBOR;
// command frames, which carry random ids, left out). Two builds that write
// the same bytes print the same line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os'; import path from 'node:path'; import crypto from 'node:crypto';
import WebSocket from 'ws';
import { Encoder } from 'cbor-x';
const cli = path.resolve(process.argv[2] ?? "packages/server/dist/cli.js"), port = Number(process.argv[3] ?? 47811);
const dir = mkdtempSync(path.join(os.tmpdir(), 'bytes-'));
const p = spawn(process.execPath, [cli, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dir, '--log-level', 'warn'], { stdio: 'inherit' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < 100; i++) { try { const r = await fetch(`http://127.0.0.1:${port}/health`); if (r.ok) break; } catch {} await sleep(100); }
const open = () => new Promise((res) => { const ws = new WebSocket(`ws://127.0.0.1:${port}/myko`); const raw = []; ws.on('message', (d, bin) => raw.push(bin ? Buffer.from(d) : Buffer.from(d.toString()))); ws.on('open', () => res({ ws, raw })); });
const w = await open();
const createdAt = '2026-01-01T00:00:00.000Z';
const evs = []; for (let i = 0; i < 3000; i++) evs.push({ itemType: 'Item', changeType: 'SET', item: { id: `i-${String(i).padStart(5, '0')}`, n: i, s: `q " \\ é 日本 \u2028 😀 ${i}`, nested: { a: [1, 2.5, null, true], o: {} } }, createdAt, tx: `t${i}` });
for (let i = 0; i < evs.length; i += 250) w.ws.send(JSON.stringify({ event: 'ws:m:event-batch', data: evs.slice(i, i + 250) }));
await sleep(1500);
const r = await open();
const q = (tx, extra = {}, qid = 'GetAllItems') => r.ws.send(JSON.stringify({ event: 'ws:m:query', data: { queryId: qid, queryItemType: 'Item', query: { tx, ...extra.params }, ...(extra.window ? { window: extra.window } : {}) } }));
q('a'); q('b'); q('ids', { params: { ids: ['i-00005', 'i-00001', 'i-00005'] } }, 'GetItemsByIds'); q('win', { window: { offset: 10, limit: 5 } });
await sleep(800);
w.ws.send(JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Item', changeType: 'SET', item: { id: 'i-00001', n: -1, s: 'changed é' }, createdAt, tx: 'chg' } }));
await sleep(500);
q('c');
const c = await open();
c.ws.send(new Encoder({ useRecords: false, mapsAsObjects: true }).encode({ event: 'ws:m:query', data: { queryId: 'GetAllItems', queryItemType: 'Item', query: { tx: 'cb' } } }));
await sleep(1000);
const h = (bufs) => crypto.createHash('sha256').update(Buffer.concat(bufs.filter((b) => !b.includes('ws:m:command')))).digest('hex').slice(0, 16);
console.log(JSON.stringify({ json: h(r.raw), jsonFrames: r.raw.length, jsonBytes: r.raw.reduce((a, b) => a + b.length, 0), cbor: h(c.raw), cborFrames: c.raw.length }));
for (const x of [w, r, c]) x.ws.close();
p.kill('SIGTERM'); await sleep(500); rmSync(dir, { recursive: true, force: true });
