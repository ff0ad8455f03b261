#!/usr/bin/env node
// The fanout of bench/run.mjs beside the peer users pick instead: one writer
// SETs one item per round, N subscribers (default 1,000) each receive it;
// latency writer send → subscriber receipt, p50/p99 over every delivery of the
// measured rounds. Five servers side by side in the same run, measured in
// interleaved blocks of rounds:
//   (a) Myko (`myko serve`, sqlite-sync full, as bench/run.mjs runs it), subscribers hold ws:m:query GetAllTicks
//   (b) a Socket.IO server broadcasting the same payload to a room (bench/socketio-server.mjs),
//       once with socket.io-client subscribers and once with subscribers speaking its framing over plain ws
//   (c) the bare ws baseline (bench/baseline-server.mjs)
//   (d) Myko again with its data directory on tmpfs: the round without the disk's flush
// Writes the "fanout-socketio" section of bench/RESULTS.md.
//
//   node bench/fanout-socketio.mjs
//
// Knobs: BENCH_FANOUT_SUBS (1000), BENCH_FANOUT_ROUNDS (200), BENCH_FANOUT_BLOCKS (4); BENCH_FANOUT_NO_SECTION=1 prints only;
// BENCH_CPU_PROF=DIR profiles the Myko server; BENCH_FANOUT_TIMELINE=1 adds each server's first and last write of a
// round (bench/write-timeline.mjs).
import path from 'node:path';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { envInt, fmt, machineLine, pctSorted as pct, procCpuMs, root, sortNum, writeSection } from './section.mjs';
import { killAll, log, rssBytes, sleep, spawnChild, startMyko, tempDir, waitOutput } from './procs.mjs';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const SUBS = envInt('BENCH_FANOUT_SUBS', 1000);
const ROUNDS = envInt('BENCH_FANOUT_ROUNDS', 200);
/** As bench/run.mjs: at least 20 warm-up rounds and at least 2 s of them (the servers' JIT settles). */
const WARMUP = 20;
const WARMUP_MS = 2000;
/** The measured rounds of each server are split into this many blocks, interleaved across the servers. */
const BLOCKS = envInt('BENCH_FANOUT_BLOCKS', 4);
/**
 * 'myko-tmpfs': the same Myko server with its data directory on tmpfs (/dev/shm), so each SET's commit
 * is the same code and the same SQLite transaction without the disk's flush: what the durable commit
 * adds to a round, beside what the peers' rounds cost without one.
 */
const TMPFS = '/dev/shm';
const KINDS = ['myko', ...(existsSync(TMPFS) ? ['myko-tmpfs'] : []), 'socketio', 'socketio-raw', 'bare'];
/** BENCH_CPU_PROF=DIR: the Myko server runs with --cpu-prof into DIR (summarise: node bench/prof-summary.mjs FILE). */
const PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
const LABEL = { myko: 'Myko', 'myko-tmpfs': 'Myko, data on tmpfs (no disk flush)', socketio: 'Socket.IO', 'socketio-raw': 'Socket.IO, raw ws subscribers', bare: 'bare ws' };

/**
 * BENCH_FANOUT_TIMELINE=1: every server runs with bench/write-timeline.mjs preloaded, which writes the
 * median time from the writer's frame reaching the server to its first and last socket write of a
 * 1,000-subscriber round into TIMELINE_DIR/<kind>.json.
 */
const TIMELINE_DIR = process.env.BENCH_FANOUT_TIMELINE === '1' ? tempDir('myko-bench-timeline-') : undefined;

async function startServer(kind) {
  const nodeArgs = TIMELINE_DIR ? ['--import', path.join(root, 'bench/write-timeline.mjs')] : [];
  const env = TIMELINE_DIR ? { BENCH_TIMELINE_FILE: path.join(TIMELINE_DIR, `${kind}.json`) } : {};
  if (kind === 'myko')
    // A directory, not a file name: the store thread writes its own profile beside the event loop's (bench/run.mjs).
    return startMyko({ env, nodeArgs: [...nodeArgs, ...(PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROF_DIR, `fanout-socketio-myko-${Date.now()}`)}`] : [])] });
  if (kind === 'myko-tmpfs') return startMyko({ env, nodeArgs, dataParent: TMPFS });
  const script = kind.startsWith('socketio') ? 'bench/socketio-server.mjs' : 'bench/baseline-server.mjs';
  const proc = spawnChild(process.execPath, [...nodeArgs, path.join(root, script)], { env });
  const m = await waitOutput(proc, /PORT (\d+)/, 10_000, LABEL[kind]);
  const url = { socketio: `http://127.0.0.1:${m[1]}`, 'socketio-raw': `ws://127.0.0.1:${m[1]}/socket.io/?EIO=4&transport=websocket`, bare: `ws://127.0.0.1:${m[1]}/` }[kind];
  return { proc, port: Number(m[1]), url, stop: () => proc.stop(3000) };
}

/**
 * A connection of `kind` that calls onItem(item, receivedAt) for each delivered query-response upsert.
 * subscribe(): resolves once the server confirmed the subscription. send(item): the writer's SET of `item`.
 */
function connect(kind, url, onItem) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`connect to ${url} timed out`)), 20_000);
    if (kind === 'socketio') {
      const s = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false, perMessageDeflate: false });
      s.on('ws:m:query-response', (data) => {
        const now = performance.now();
        onItem?.(data.upserts?.[0]?.item, now);
      });
      s.once('connect_error', (err) => (clearTimeout(t), reject(err)));
      s.once('connect', () => {
        clearTimeout(t);
        resolve({
          subscribe: () => new Promise((r) => s.emit('sub', () => r())),
          send: (item) => s.emit('pub', { itemType: 'Tick', item }),
          close: () => s.disconnect(),
        });
      });
      return;
    }
    if (kind === 'socketio-raw') return connectRawSocketIo(url, onItem, t, resolve, reject);
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let waiting = null;
    ws.on('message', (d) => {
      const now = performance.now();
      const s = d.toString();
      if (waiting) {
        if (kind === 'bare' ? s === '{"event":"sub-ok"}' : s.includes('"ws:m:query-response"') && JSON.parse(s).data.tx === waiting.tx) {
          const w = waiting;
          waiting = null;
          w.resolve();
        }
        return;
      }
      const f = JSON.parse(s);
      if (f.event === 'ws:m:query-response' && f.data.sequence > 0) onItem?.(f.data.upserts?.[0]?.item, now);
    });
    ws.once('error', (err) => (clearTimeout(t), reject(err)));
    ws.once('open', () => {
      clearTimeout(t);
      resolve({
        subscribe: () =>
          new Promise((r) => {
            const tx = `sub-${Math.random().toString(36).slice(2)}`;
            waiting = { tx, resolve: r };
            ws.send(kind === 'bare' ? '{"event":"sub"}' : JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetAllTicks', queryItemType: 'Tick', query: { tx } } }));
          }),
        send: (item) =>
          ws.send(
            kind === 'bare'
              ? JSON.stringify({ event: 'pub', data: { itemType: 'Tick', item } })
              : JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Tick', changeType: 'SET', item, createdAt: new Date().toISOString(), tx: `w-${item.n}` } }),
          ),
        close: () => ws.terminate(),
      });
    });
  });
}

/**
 * A Socket.IO connection spoken over a plain \`ws\` socket (Engine.IO 4 / Socket.IO 5 framing:
 * '0' open, '40' namespace connect, '2'/'3' ping/pong, '42[…]' event, '43<id>[…]' ack), so a delivery
 * costs the bench process one JSON.parse, as a Myko or bare ws delivery does: the latency then shows
 * the server's work, not socket.io-client's decoding of 1,000 frames one after another in one process.
 */
function connectRawSocketIo(url, onItem, t, resolve, reject) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let acked = null;
  let opened = false;
  ws.on('message', (d) => {
    const now = performance.now();
    const s = d.toString();
    if (s.startsWith('42')) {
      const [event, data] = JSON.parse(s.slice(2));
      if (event === 'ws:m:query-response') onItem?.(data.upserts?.[0]?.item, now);
    } else if (s === '2') ws.send('3');
    else if (s.startsWith('430') && acked) (acked(), (acked = null));
    else if (s.startsWith('40') && !opened) {
      opened = true;
      clearTimeout(t);
      resolve({
        subscribe: () => new Promise((r) => ((acked = r), ws.send('420["sub"]'))),
        send: (item) => ws.send('42' + JSON.stringify(['pub', { itemType: 'Tick', item }])),
        close: () => ws.terminate(),
      });
    } else if (s.startsWith('0')) ws.send('40');
  });
  ws.once('error', (err) => (clearTimeout(t), reject(err)));
}

/** The protocol of bench/run.mjs's fanout: add subscribers up to n, warm up, then `ROUNDS` measured rounds. */
async function harness(kind, srv) {
  const conns = [];
  let round = null;
  const onItem = (item, now) => {
    if (round === null || item?.n !== round.n) return;
    round.lat.push(now - round.t0);
    if (++round.got === round.expected) {
      round.last = now - round.t0;
      round.resolve();
    }
  };
  const writer = await connect(kind, srv.url);
  conns.push(writer);
  let subs = 0;
  let seq = 0;
  /** Subscribers up to n, warm-up, then `rounds` measured rounds: the raw samples of one block. */
  const measure = async (n, rounds) => {
    while (subs < n) {
      const batch = [];
      for (let k = 0; k < 50 && subs < n; k++, subs++)
        batch.push(
          connect(kind, srv.url, onItem).then(async (c) => {
            conns.push(c);
            await Promise.race([c.subscribe(), sleep(20_000).then(() => Promise.reject(new Error('no subscription confirmed in 20 s')))]);
          }),
        );
      await Promise.all(batch);
    }
    await sleep(200);
    const all = [];
    const lasts = [];
    let warmRounds = 0;
    let cpu0;
    let own0;
    const tWarm = performance.now();
    for (let r = 0, measured = 0; measured < rounds; r++) {
      const warming = r < WARMUP || performance.now() - tWarm < WARMUP_MS;
      if (warming) warmRounds++;
      else if (measured === 0) {
        cpu0 = procCpuMs(srv.proc.pid);
        own0 = process.cpuUsage();
      }
      const item = { id: 'tick', n: `${n}:${++seq}` };
      const done = new Promise((resolve) => (round = { n: item.n, got: 0, expected: subs, lat: [], resolve, t0: 0 }));
      let timer;
      const timeout = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${kind} round ${r}: ${round.got}/${round.expected} deliveries after 10 s`)), 10_000)));
      round.t0 = performance.now();
      writer.send(item);
      try {
        await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
      if (!warming) {
        measured++;
        all.push(...round.lat);
        lasts.push(round.last);
      }
    }
    round = null;
    const own = process.cpuUsage(own0);
    return { n, rounds, warmRounds, all, lasts, cpuMs: procCpuMs(srv.proc.pid) - cpu0, clientCpuMs: (own.user + own.system) / 1000 };
  };
  return { measure, close: () => conns.forEach((c) => c.close()) };
}

function section(res, machine) {
  const ratio = (k, q, vs) => res[k].many[q] / res[vs].many[q];
  // Judged against the stricter of the two Socket.IO runs: the raw-ws subscribers, whose latency is the server's alone.
  const met = ratio('myko', 'p50', 'socketio-raw') <= 1 && ratio('myko', 'p99', 'socketio-raw') <= 1;
  const row = (k) => {
    const o = res[k].one;
    const m = res[k].many;
    return `| ${LABEL[k]} | ${fmt(o.p50, 3)} / ${fmt(o.p99, 3)} | **${fmt(m.p50)}** / **${fmt(m.p99)}** | ${fmt(m.lastP50)} / ${fmt(m.lastP99)} | ${fmt(m.serverCpuMsPerRound)} | ${fmt(m.clientCpuMsPerRound)} | ${fmt(ratio(k, 'p50', 'socketio'))}× / ${fmt(ratio(k, 'p99', 'socketio'))}× | ${fmt(ratio(k, 'p50', 'socketio-raw'))}× / ${fmt(ratio(k, 'p99', 'socketio-raw'))}× | ${fmt(ratio(k, 'p50', 'bare'))}× / ${fmt(ratio(k, 'p99', 'bare'))}× |`;
  };
  return [
    `## Fanout beside Socket.IO: one writer, ${SUBS.toLocaleString('en')} subscribers (issue 15: Myko ≤ 1.0× Socket.IO at p50 and p99)`,
    '',
    `Machine: ${machine}. Command: \`node bench/fanout-socketio.mjs\`. The protocol of the fanout scenario of bench/run.mjs: one writer sends one SET of one Tick per round and waits until every subscriber has it; latency writer send → subscriber receipt (decoded), over every delivery of ${ROUNDS} measured rounds per server. The ${KINDS.length} servers run side by side in this run and are measured in ${BLOCKS} interleaved blocks of ${Math.ceil(ROUNDS / BLOCKS)} rounds each (so the machine's other load falls on all alike), each block after ≥ ${WARMUP} warm-up rounds and ≥ ${WARMUP_MS / 1000} s; subscribers and writer in the bench process. Myko: \`myko serve\`, sqliteSync=full (each SET committed durably before its diff), subscribers hold \`ws:m:query GetAllTicks\`. Socket.IO ${res.socketioVersion}: WebSocket transport only, no compression, subscribers joined to one room, the writer's emit broadcast to the room as a query-response-shaped payload (bench/socketio-server.mjs). Bare ws: bench/baseline-server.mjs.`,
    '',
    '| server | 1 subscriber p50 / p99 ms | ' + SUBS.toLocaleString('en') + ' subscribers p50 / p99 ms | last delivery of a round p50 / p99 ms | server CPU ms / round | subscribers\' process CPU ms / round | ÷ Socket.IO p50 / p99 | ÷ Socket.IO (raw ws subscribers) p50 / p99 | ÷ bare ws p50 / p99 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...KINDS.map(row),
    '',
    `Two Socket.IO runs: subscribers with socket.io-client 4.8 (what users run) and subscribers speaking the Socket.IO framing over plain \`ws\` (one JSON.parse per delivery, as for Myko and bare ws). All subscribers share the bench process, so a library's per-frame decoding cost adds up over the ${SUBS.toLocaleString('en')} deliveries of a round: the raw-ws run shows the server's part alone and is the one the target is judged on. Server CPU per round is the server process's user + system time (/proc) over the measured rounds; the subscribers' process CPU is the bench process's own over the same rounds (its sockets' receive work in the kernel included). When it is about as long as the round itself (the last delivery's time), that process is busy for the whole round and the deliveries come at its pace: the latency columns then measure mostly the subscribers' process, and a server's own part shows in its CPU column, in its 1-subscriber latency, and in when its first frame leaves (BENCH_FANOUT_TIMELINE=1). Myko, data on tmpfs: the same server with its data directory on tmpfs, each SET's commit the same code and the same SQLite transaction without the disk's flush, to show what the durable commit adds to the round.`,
    '',
    `**Target ${met ? 'met' : 'not met'}**: Myko ÷ Socket.IO (raw ws subscribers) at ${SUBS.toLocaleString('en')} subscribers p50 **${fmt(ratio('myko', 'p50', 'socketio-raw'))}×**, p99 **${fmt(ratio('myko', 'p99', 'socketio-raw'))}×**; ÷ Socket.IO with socket.io-client p50 ${fmt(ratio('myko', 'p50', 'socketio'))}×, p99 ${fmt(ratio('myko', 'p99', 'socketio'))}× (must be ≤ 1.0 at p50 and p99). Server CPU per round, Myko ÷ Socket.IO (raw ws subscribers): ${res['socketio-raw'].many.serverCpuMsPerRound > 0 ? fmt(res.myko.many.serverCpuMsPerRound / res['socketio-raw'].many.serverCpuMsPerRound) + '×' : 'n/a (below the clock tick)'}.`,
  ].join('\n');
}

/** With BENCH_FANOUT_TIMELINE=1: each server's first and last write of a round after the writer's frame arrived. */
function timelineNote(res) {
  const rows = KINDS.filter((k) => res[k].timeline).map((k) => {
    const t = res[k].timeline;
    return `| ${LABEL[k]} | ${fmt(t.firstWriteMs, 3)} | ${fmt(t.lastWriteMs, 2)} | ${fmt(res[k].many.p50)} | ${t.rounds} |`;
  });
  return [
    `Each server's round from inside it (BENCH_FANOUT_TIMELINE=1, bench/write-timeline.mjs preloaded in every server): the writer's frame reaches the server's JavaScript (its socket's 'data' event), then the first and the last of the round's socket writes, medians over the ${SUBS.toLocaleString('en')}-subscriber rounds (warm-up included):`,
    '',
    '| server | first write, ms after the frame | last write, ms after the frame | delivery p50 ms (above) | rounds |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** With BENCH_CPU_PROF: the newest profile of the Myko server, summarised by bench/prof-summary.mjs (inclusive time, top 25). */
function profileNote() {
  const files = readdirSync(PROF_DIR).filter((f) => f.startsWith('fanout-socketio-myko-')).sort();
  if (files.length === 0) return '(no CPU profile was written)';
  const out = execFileSync(process.execPath, [path.join(root, 'bench/prof-summary.mjs'), path.join(PROF_DIR, files.at(-1)), '25'], { encoding: 'utf8' });
  const inclusive = out.slice(out.indexOf('inclusive time by function'));
  return `CPU profile of the Myko server over the whole run (BENCH_CPU_PROF; wall-clock samples, so time the process was preempted on this shared machine lands on whatever ran then), \`node bench/prof-summary.mjs\`:\n\n\`\`\`\n${inclusive.trim()}\n\`\`\``;
}

/** Blocks of one server pooled: percentiles over every delivery of every measured round. */
function summarise(blocks, pid) {
  const sa = sortNum(blocks.flatMap((b) => b.all));
  const sl = sortNum(blocks.flatMap((b) => b.lasts));
  const rounds = blocks.reduce((x, b) => x + b.rounds, 0);
  return {
    subscribers: blocks[0].n,
    rounds,
    blocks: blocks.length,
    warmRounds: blocks.reduce((x, b) => x + b.warmRounds, 0),
    deliveries: sa.length,
    p50: pct(sa, 50),
    p99: pct(sa, 99),
    lastP50: pct(sl, 50),
    lastP99: pct(sl, 99),
    serverCpuMsPerRound: blocks.reduce((x, b) => x + b.cpuMs, 0) / rounds,
    /** The bench process (writer and subscribers, the kernel's receive work charged to it) over the same rounds. */
    clientCpuMsPerRound: blocks.reduce((x, b) => x + b.clientCpuMs, 0) / rounds,
    rssMiB: rssBytes(pid) / 2 ** 20,
  };
}

async function main() {
  const machine = machineLine();
  console.error(`bench fanout-socketio: ${SUBS} subscribers, ${ROUNDS} rounds, ${machine}`);
  const res = { socketioVersion: JSON.parse(readFileSync(path.join(root, 'node_modules/socket.io/package.json'), 'utf8')).version };
  // All servers up at once and measured in interleaved blocks (A B C D, A B C D, …): the load of the
  // other work on this shared machine then falls on every server alike, not on whichever ran last.
  const srvs = {};
  const hs = {};
  try {
    for (const kind of KINDS) {
      srvs[kind] = await startServer(kind);
      hs[kind] = await harness(kind, srvs[kind]);
    }
    const blocks = Object.fromEntries(KINDS.map((k) => [k, { one: [], many: [] }]));
    for (const [phase, n] of [['one', 1], ['many', SUBS]])
      for (let b = 0; b < BLOCKS; b++)
        for (const kind of KINDS) blocks[kind][phase].push(await hs[kind].measure(n, Math.ceil(ROUNDS / BLOCKS)));
    for (const kind of KINDS) {
      const pid = srvs[kind].proc.pid;
      res[kind] = { one: summarise(blocks[kind].one, pid), many: summarise(blocks[kind].many, pid) };
      const { one, many } = res[kind];
      log(`${LABEL[kind]}: 1 sub p50 ${fmt(one.p50, 3)} ms; ${SUBS} subs p50 ${fmt(many.p50)} p99 ${fmt(many.p99)} ms, last p99 ${fmt(many.lastP99)} ms, CPU ${fmt(many.serverCpuMsPerRound)} ms/round (subscribers' process ${fmt(many.clientCpuMsPerRound)})`);
    }
  } finally {
    for (const kind of KINDS) {
      hs[kind]?.close();
      await srvs[kind]?.stop();
    }
  }
  if (TIMELINE_DIR)
    for (const kind of KINDS) {
      // The socketio and socketio-raw runs share one server script but each has its own process and file.
      const f = path.join(TIMELINE_DIR, `${kind}.json`);
      if (existsSync(f)) res[kind].timeline = JSON.parse(readFileSync(f, 'utf8'));
    }
  let md = section(res, machine);
  if (TIMELINE_DIR) md += '\n\n' + timelineNote(res);
  if (PROF_DIR) md += '\n\n' + profileNote();
  console.log(md);
  console.log(JSON.stringify(res));
  if (process.env.BENCH_FANOUT_NO_SECTION !== '1') writeSection('fanout-socketio', md);
}

main().then(
  () => (killAll(), process.exit(0)),
  (err) => (console.error('bench fanout-socketio failed:', err), killAll(), process.exit(1)),
);
