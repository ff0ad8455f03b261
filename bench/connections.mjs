#!/usr/bin/env node
// Idle connections, each with one live query: memory per connection of one
// Myko server process, beside a bare `ws` server holding the same number of
// idle sockets (bench/baseline-server.mjs), both measured in the same run.
// Writes the "connections" section of bench/RESULTS.md.
//
//   node bench/connections.mjs
//
// Knobs (environment):
//   BENCH_CONNS (20000)           connections per server
//   BENCH_CONNS_PER_CLIENT (5000) connections per client process (the fd limit is per process)
//   BENCH_CONNS_PROFILE=1         also take heap snapshots of the Myko server (before and after
//                                 the connections) and list what grows per connection; the snapshot
//                                 JSON of 20,000 connections is large: use it with BENCH_CONNS=4000 or so
//   BENCH_CONNS_NO_SECTION=1      print the result only, do not write RESULTS.md
//
// Memory is read after a full GC forced through the V8 inspector (both servers run with
// --inspect on loopback), so the heap figure counts live objects, not garbage; RSS from /proc.
import path from 'node:path';
import { readdirSync } from 'node:fs';
import WebSocket from 'ws';
import { envInt, machineLine, root, writeSection } from './section.mjs';
import { inspector, killAll, log, nofileLimit, rssBytes, sleep, spawnChild, startMyko, summariseSnapshot, waitOutput } from './procs.mjs';

const N = envInt('BENCH_CONNS', 20_000);
const PER_CLIENT = envInt('BENCH_CONNS_PER_CLIENT', 5000);
const PROFILE = process.env.BENCH_CONNS_PROFILE === '1';
const TARGET_KIB = 16;
/** File descriptors kept free besides those the server holds before the connections (the writer's socket, SQLite's journal files). */
const FD_MARGIN = 16;
const openFds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const SAMPLE = 200;
const CLIENT = path.join(root, 'bench/connections-client.mjs');
const KiB = 1024;

async function startServer(kind) {
  const nodeArgs = ['--inspect=127.0.0.1:0'];
  if (kind === 'myko') {
    // --max-connections above N: the default (10,000) would refuse the rest at the handshake.
    const srv = await startMyko({ nodeArgs, raiseNofile: true, extraArgs: ['--max-connections', String(N + 100), '--plugins', ''] });
    return { ...srv, metricsUrl: `http://127.0.0.1:${srv.port}/metrics` };
  }
  const proc = spawnChild(process.execPath, [...nodeArgs, path.join(root, 'bench/baseline-server.mjs')], { raiseNofile: true });
  const m = await waitOutput(proc, /PORT (\d+)/, 10_000, 'baseline server');
  return { proc, port: Number(m[1]), url: `ws://127.0.0.1:${m[1]}/`, stop: () => proc.stop(3000) };
}

/** RSS and V8 heap of the server's own /metrics (process metrics of prom-client). */
async function scrapeMemory(url) {
  const text = await (await fetch(url)).text();
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  return { rss: get('process_resident_memory_bytes'), heapUsed: get('nodejs_heap_size_used_bytes') };
}

async function measure(srv, insp) {
  const heapUsed = await insp.heapUsed();
  await sleep(500);
  const out = { rss: rssBytes(srv.proc.pid), heapUsed };
  if (srv.metricsUrl) out.metrics = await scrapeMemory(srv.metricsUrl);
  return out;
}

function request(client, msg, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`client ${client.pid}: no ${type} in ${timeoutMs / 1000} s`)), timeoutMs);
    const on = (m) => {
      if (m.type === 'error') return (clearTimeout(t), client.child.off('message', on), reject(new Error(m.message)));
      if (m.type !== type) return;
      clearTimeout(t);
      client.child.off('message', on);
      resolve(m);
    };
    client.child.on('message', on);
    client.child.send(msg);
  });
}

async function run(kind) {
  const srv = await startServer(kind);
  const clients = [];
  let insp;
  try {
    insp = await inspector(srv.proc);
    const limit = nofileLimit(srv.proc.pid);
    // As many as the fd limit leaves room for: the fds open now (inspector included) plus a margin for SQLite and the writer.
    const n = Math.min(N, limit - openFds(srv.proc.pid) - FD_MARGIN);
    if (n < N) log(`${kind}: the server's fd limit is ${limit}: ${n} connections, not ${N}`);
    await sleep(1000);
    // The first snapshot before the first reading: taking one grows the process (the profiler's own memory).
    const snapBefore = PROFILE && kind === 'myko' ? summariseSnapshot(await insp.snapshot()) : undefined;
    const before = await measure(srv, insp);
    log(`${kind}: before: RSS ${(before.rss / 2 ** 20).toFixed(1)} MiB, heap ${(before.heapUsed / 2 ** 20).toFixed(1)} MiB`);

    const t0 = performance.now();
    const ranges = [];
    for (let from = 0; from < n; from += PER_CLIENT) ranges.push([from, Math.min(PER_CLIENT, n - from)]);
    for (const [from, count] of ranges) {
      const c = spawnChild(process.execPath, [CLIENT], { ipc: true });
      c.range = [from, count];
      clients.push(c);
    }
    await Promise.all(clients.map((c) => request(c, { cmd: 'open', url: srv.url, kind, from: c.range[0], count: c.range[1] }, 'opened', 600_000)));
    const openMs = performance.now() - t0;
    log(`${kind}: ${n} connections open in ${(openMs / 1000).toFixed(1)} s`);
    await sleep(3000);
    const after = await measure(srv, insp);
    const per = (a, b) => (a - b) / n;
    const r = {
      kind,
      connections: n,
      fdLimit: limit,
      openSeconds: openMs / 1000,
      before,
      after,
      rssPerConn: per(after.rss, before.rss),
      heapPerConn: per(after.heapUsed, before.heapUsed),
      metricsRssPerConn: after.metrics ? per(after.metrics.rss, before.metrics.rss) : undefined,
    };
    log(`${kind}: RSS +${(r.rssPerConn / KiB).toFixed(2)} KiB/conn, heap +${(r.heapPerConn / KiB).toFixed(2)} KiB/conn`);

    if (PROFILE && kind === 'myko') {
      const snapAfter = summariseSnapshot(await insp.snapshot());
      const was = new Map(snapBefore.map((e) => [e.name, e]));
      r.profile = snapAfter
        .map((e) => ({ name: e.name, countPerConn: (e.count - (was.get(e.name)?.count ?? 0)) / n, bytesPerConn: (e.bytes - (was.get(e.name)?.bytes ?? 0)) / n }))
        .sort((a, b) => b.bytesPerConn - a.bytesPerConn)
        .slice(0, 20);
    }

    // Live: a change reaches a sample of the connections (myko: a SET of the item each one watches;
    // bare: one broadcast to every socket).
    const mark = `probe-${Date.now()}`;
    const step = Math.max(1, Math.floor(n / SAMPLE));
    const sample = [];
    for (let i = 0; i < n && sample.length < SAMPLE; i += step) sample.push(i);
    const writer = new WebSocket(srv.url, { perMessageDeflate: false });
    await new Promise((res, rej) => (writer.once('open', res), writer.once('error', rej)));
    const probes = clients.map((c) => {
      const [from, count] = c.range;
      const expect = kind === 'bare' ? 'all' : sample.filter((i) => i >= from && i < from + count);
      return request(c, { cmd: 'probe', mark, expect, timeoutMs: 20_000 }, 'probed', 30_000);
    });
    await sleep(200); // the clients have the probe before the change goes out
    if (kind === 'bare') writer.send(JSON.stringify({ event: 'pub', data: { itemType: 'Conn', item: { id: 'probe', mark } } }));
    else {
      const createdAt = new Date().toISOString();
      writer.send(
        JSON.stringify({
          event: 'ws:m:event-batch',
          data: sample.map((i) => ({ itemType: 'Conn', changeType: 'SET', item: { id: `k${i}`, mark }, createdAt, tx: `${mark}-${i}` })),
        }),
      );
    }
    const res = await Promise.all(probes);
    writer.terminate();
    r.live = { probed: kind === 'bare' ? n : sample.length, reached: res.reduce((s, x) => s + x.got, 0), missing: res.flatMap((x) => x.missing).slice(0, 10) };
    log(`${kind}: live: ${r.live.reached}/${r.live.probed} reached`);
    return r;
  } finally {
    await Promise.all(clients.map((c) => (c.running ? (c.child.send({ cmd: 'close' }), c.stop(5000)) : undefined)));
    insp?.close();
    await srv.stop();
  }
}

const kib = (b) => (b / KiB).toFixed(2);
const mib = (b) => (b / 2 ** 20).toFixed(1);

function section(res, machine) {
  const { bare, myko } = res;
  const memMet = myko.rssPerConn <= TARGET_KIB * KiB && myko.live.reached === myko.live.probed;
  const met = myko.connections >= 20_000 && memMet;
  const row = (r, label) =>
    `| ${label} | ${r.connections.toLocaleString('en')} | ${r.openSeconds.toFixed(1)} | ${mib(r.before.rss)} → ${mib(r.after.rss)} | **${kib(r.rssPerConn)}** | ${mib(r.before.heapUsed)} → ${mib(r.after.heapUsed)} | ${kib(r.heapPerConn)} | ${r.live.reached.toLocaleString('en')} / ${r.live.probed.toLocaleString('en')} |`;
  const lines = [
    `## Idle connections, one live query each (issue 15: 20,000 on one process at ≤ ${TARGET_KIB} KiB each)`,
    '',
    `Machine: ${machine}. Command: \`node bench/connections.mjs\` (BENCH_CONNS=${N}). Each server is one child process (its soft fd limit raised to the hard one: ${myko.fdLimit.toLocaleString('en')}); the connections come from ${Math.ceil(myko.connections / PER_CLIENT)} client processes of ≤ ${PER_CLIENT.toLocaleString('en')} sockets. Myko connections each hold \`ws:m:query GetConnsByIds\` of their own item \`k<i>\`; the baseline (a bare \`ws\` server, bench/baseline-server.mjs) holds the same number of idle sockets in a Set. Memory after a full GC (forced through the V8 inspector), 3 s after the last connection; RSS from /proc; per connection = (after − before) / connections.`,
    '',
    '| server | connections | open (s) | RSS MiB before → after | RSS KiB / conn | V8 heap MiB before → after | heap KiB / conn | live (a change reached) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row(myko, 'Myko'),
    row(bare, 'bare ws'),
    '',
    `Myko / bare ws per connection: RSS **${(myko.rssPerConn / bare.rssPerConn).toFixed(2)}×**, heap ${(myko.heapPerConn / bare.heapPerConn).toFixed(2)}×. ` +
      (myko.after.metrics ? `The server's own /metrics agree: process_resident_memory_bytes ${mib(myko.before.metrics.rss)} → ${mib(myko.after.metrics.rss)} MiB (${kib(myko.metricsRssPerConn)} KiB / conn), nodejs_heap_size_used_bytes ${mib(myko.before.metrics.heapUsed)} → ${mib(myko.after.metrics.heapUsed)} MiB. ` : '') +
      `Live: Myko SETs the items of ${myko.live.probed} connections spread over the range (one event batch) and each of them gets its diff; the baseline broadcasts one frame to every socket.`,
    '',
    `**Target ${met ? 'met' : memMet ? 'met for memory, not for the count' : 'not met'}**: ${myko.connections.toLocaleString('en')} live connections at ${kib(myko.rssPerConn)} KiB RSS each (must be 20,000 at ≤ ${TARGET_KIB} KiB).` +
      (myko.connections < N
        ? ` The run held ${myko.connections.toLocaleString('en')}, not ${N.toLocaleString('en')}: the hard limit of open files per process on this machine is ${myko.fdLimit.toLocaleString('en')}, one socket is one fd, the server holds a few dozen others (stdio, SQLite, epoll, the listener), and raising a hard limit needs CAP_SYS_RESOURCE, which processes on this machine do not have (\`ulimit -Hn 40000\` is refused). On a host with \`ulimit -Hn\` above 20,100 the same command holds all ${N.toLocaleString('en')}.`
        : N < 20_000
          ? ` (A smaller run: BENCH_CONNS=${N}.)`
          : ''),
  ];
  if (myko.profile) {
    lines.push('', `Heap snapshot (BENCH_CONNS_PROFILE=1), Myko, growth per connection (after − before) / connections, by constructor (self sizes; the snapshots' own memory may add to the RSS figure of this run):`, '', '| constructor | objects / conn | bytes / conn |', '| --- | ---: | ---: |');
    for (const p of myko.profile.slice(0, 15)) lines.push(`| ${p.name.replaceAll('|', '\\|').slice(0, 60)} | ${p.countPerConn.toFixed(2)} | ${p.bytesPerConn.toFixed(0)} |`);
  }
  return lines.join('\n');
}

async function main() {
  const machine = machineLine();
  console.error(`bench connections: ${N} per server, ${machine}`);
  const res = {};
  for (const kind of ['bare', 'myko']) res[kind] = await run(kind);
  const md = section(res, machine);
  console.log(md);
  console.log(JSON.stringify(res));
  if (process.env.BENCH_CONNS_NO_SECTION !== '1') writeSection('connections', md);
}

main().then(
  () => (killAll(), process.exit(0)),
  (err) => (console.error('bench connections failed:', err), killAll(), process.exit(1)),
);
