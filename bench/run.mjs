#!/usr/bin/env node
// Myko benchmarks: the real server as a child process, against a baseline
// measured in the same run, reported as ratios (the machine is noisy).
//
//   npm run bench                       all scenarios (builds first), writes bench/RESULTS.md + RESULTS.json
//   node bench/run.mjs ingest           one or more scenarios: ingest | fanout | snapshot
//                                       (a partial run writes bench/results-partial.md, not RESULTS.md)
//
// Knobs (environment):
//   BENCH_INGEST_EVENTS (131072)    events per ingest run
//   BENCH_INGEST_TRIALS (2)         trials per sqliteSync mode, best kept
//   BENCH_INGEST_WINDOW (16384)     events sent but not yet counted, across the clients
//   BENCH_INGEST_SYNCS (full,normal) the sqliteSync modes and their order
//   BENCH_FANOUT_SUBS (1000), BENCH_FANOUT_ROUNDS (200), BENCH_FANOUT_SYNC (full)
//   BENCH_FANOUT_ROUNDS_ONE (1000), BENCH_FANOUT_WARMUP_MS_ONE (10000): one subscriber's rounds, and its warm-up
//   BENCH_SNAPSHOT_ITEMS (10000), BENCH_SNAPSHOT_RUNS (20)
//   BENCH_TIMEOUT_MS                overrides every scenario's time limit
//   BENCH_SERVER_CLI=PATH           benchmark another build's cli.js (A/B runs); BENCH_SERVER_LABEL names it in the results
//   BENCH_INGEST_EXTRAS (1)         0: no run without checkpoints and no store-path run (an old build's CLI lacks the options)
//   BENCH_OUT=FILE                  write the results there instead (A/B runs: RESULTS.md and RESULTS.json stay as they are)
//   BENCH_CPU_PROF=DIR              run every Myko server child with --cpu-prof into DIR/<scenario>-…/, one profile per thread
//                                   (CPU.….<pid>.0.….cpuprofile the event loop, ….1.… the store thread; summarise: node bench/prof-summary.mjs FILE)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import Database from 'better-sqlite3';
import { preallocateWal } from '../packages/server/dist/store/sqlite/wal-prealloc.js';
import { CLI, envInt, fmt, pctSorted as pct, procCpuMs, root, scrapeEventToDiff, selfCpuMs, sortNum } from './section.mjs';
import { ingestFloor } from './ingest-floor.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = path.join(here, 'baseline-server.mjs');
const STORE_PATH_SERVER = path.join(here, 'ingest-path-server.mjs');

const CFG = {
  ingestClients: 4,
  ingestEventsPerFrame: 256,
  ingestEvents: envInt('BENCH_INGEST_EVENTS', 131_072),
  /** Events sent but not yet counted by the watcher, across the 4 clients. */
  ingestWindowEvents: envInt('BENCH_INGEST_WINDOW', 16_384),
  rawBatch: 1000,
  ingestTrials: envInt('BENCH_INGEST_TRIALS', 2),
  fanoutSubs: envInt('BENCH_FANOUT_SUBS', 1000),
  fanoutRounds: envInt('BENCH_FANOUT_ROUNDS', 200),
  /** One subscriber's rounds are cheap (~0.5 ms): 1,000 of them make its p99 the 10th worst, not the 2nd. */
  fanoutRoundsOne: envInt('BENCH_FANOUT_ROUNDS_ONE', 1000),
  fanoutWarmup: 20,
  fanoutWarmupMs: 2000,
  /**
   * One subscriber's rounds are measured after 10 s of them, not 2: the server's JIT goes on compiling for
   * 7-10 s of this load (--trace-opt: 72, 118, 70, 38, 6, 14, 8, 6 functions in the first eight seconds),
   * and its p99 falls meanwhile (bench/single-set.mjs prints the curve). Bare ws gets the same warm-up.
   */
  fanoutWarmupMsOne: envInt('BENCH_FANOUT_WARMUP_MS_ONE', 10_000),
  /** Interleaved blocks per server and subscriber count (scenarioFanout); warm-up before each block after the first. */
  fanoutBlocks: envInt('BENCH_FANOUT_BLOCKS', 4),
  fanoutWarmupMsBlock: 1000,
  snapshotItems: envInt('BENCH_SNAPSHOT_ITEMS', 10_000),
  snapshotRuns: envInt('BENCH_SNAPSHOT_RUNS', 20),
  snapshotWarmup: 2,
  /** Hard limits per scenario (together under 5 min); ingest starts no new trial after ingestBudgetMs. */
  timeouts: { ingest: 130_000, fanout: 120_000, snapshot: 35_000 },
  ingestBudgetMs: 75_000,
};
if (process.env.BENCH_TIMEOUT_MS) for (const k of Object.keys(CFG.timeouts)) CFG.timeouts[k] = envInt('BENCH_TIMEOUT_MS', 0);
const INGEST_SYNCS = (process.env.BENCH_INGEST_SYNCS ?? 'full,normal').split(',').filter(Boolean);
if (INGEST_SYNCS.some((s) => s !== 'full' && s !== 'normal')) throw new Error('BENCH_INGEST_SYNCS: a comma-separated list of full, normal');
const FANOUT_SYNC = process.env.BENCH_FANOUT_SYNC ?? 'full';
if (FANOUT_SYNC !== 'full' && FANOUT_SYNC !== 'normal') throw new Error('BENCH_FANOUT_SYNC: full or normal');
const PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;

// ---------------------------------------------------------------------------
// Process hygiene: every child and temp dir is tracked and removed on any exit.

const children = new Set();
/** What Myko servers printed (log level warn: warnings and errors only) or how they exited, when not silent and clean. */
const serverNotes = [];
const tempDirs = new Set();

function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => {
    console.error(`\nbench: ${sig}: stopping children`);
    killAll();
    process.exit(130);
  });
process.on('uncaughtException', (err) => {
  console.error('bench: uncaught', err);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error('bench: unhandled rejection', err);
  killAll();
  process.exit(1);
});

function tempDir(prefix) {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}
function removeDir(d) {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/** Cleanups of one scenario, run in reverse order whether it succeeded, failed or timed out. */
class Scope {
  cleanups = [];
  defer(fn) {
    this.cleanups.push(fn);
  }
  async close() {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error('bench: cleanup failed:', err.message);
      }
    }
    this.cleanups = [];
  }
}

function spawnChild(args, opts = {}) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd: root });
  children.add(child);
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 20_000) out = out.slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code, signal) => (children.delete(child), r({ code, signal }))));
  return {
    child,
    exited,
    output: () => out,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** SIGTERM (lets --cpu-prof write its profile), SIGKILL after a grace period. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function getJson(url, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, body: JSON.parse(body) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU ms of each thread of a process (Linux), by thread id. */
function threadsCpuMs(pid) {
  const out = new Map();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const ms = procCpuMs(pid, tid);
      if (ms !== undefined) out.set(tid, ms);
    }
  } catch {}
  return out;
}

/**
 * Where a server's CPU went between two `threadsCpuMs` readings: its event loop (the thread whose id is
 * the process id), its store thread (the busiest of the others: Node names no thread, and the store
 * thread is the one that commits every event), and every other thread (V8's garbage-collector and
 * compiler helpers, libuv's pool).
 */
function threadSplit(pid, before, after) {
  let loop = 0;
  const others = [];
  for (const [tid, ms] of after) {
    const d = ms - (before.get(tid) ?? 0);
    if (tid === String(pid)) loop = d;
    else others.push(d);
  }
  others.sort((a, b) => b - a);
  return { loop, store: others[0] ?? 0, helpers: others.slice(1).reduce((a, b) => a + b, 0) };
}

/** Busy and total jiffies of all cores (Linux /proc/stat): how busy the whole machine was between two readings. */
function machineJiffies() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0); // idle + iowait
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** The Myko server as a child process on a fresh temp data dir; resolves once /health answers. */
async function startMyko(scope, { sync = 'full', name = 'myko', extraArgs = [], cli = CLI } = {}) {
  const dataDir = tempDir('myko-bench-');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // A directory per server, not a file name: --cpu-prof-name would give the store thread's profile the
    // event loop's name, and the last one written would replace the other. Node's own names tell them apart by thread id.
    const nodeArgs = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROF_DIR, `${name}-${process.pid}-${Date.now()}`)}`] : [];
    if (process.env.BENCH_SERVER_NODE_ARGS) nodeArgs.push(...process.env.BENCH_SERVER_NODE_ARGS.split(' ').filter(Boolean));
    const proc = spawnChild([
      ...nodeArgs,
      cli, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'warn', '--sqlite-sync', sync, ...extraArgs,
    ]);
    const deadline = Date.now() + 15_000;
    let ok = false;
    while (Date.now() < deadline && proc.running) {
      try {
        if ((await getJson(`http://127.0.0.1:${port}/health`, 500)).status === 200) {
          ok = true;
          break;
        }
      } catch {}
      await sleep(50);
    }
    if (!ok) {
      await proc.stop(1000);
      if (attempt < 3 && /EADDRINUSE/.test(proc.output())) continue;
      throw new Error(`myko server did not start: ${proc.output().slice(-2000)}`);
    }
    const srv = {
      proc,
      port,
      dataDir,
      url: `ws://127.0.0.1:${port}/myko`,
      health: async () => (await getJson(`http://127.0.0.1:${port}/health`)).body,
      stopped: false,
      async stop() {
        if (srv.stopped) return;
        srv.stopped = true;
        const r = await proc.stop();
        if (r.code !== 0) srv.exitNote = `server exited with code ${r.code} signal ${r.signal}`;
        const lines = proc.output().split('\n').filter((l) => l.trim() !== '');
        if (lines.length > 0 || srv.exitNote)
          serverNotes.push({ name, exit: srv.exitNote, lines: lines.length, first: lines.slice(0, 3).map((l) => l.slice(0, 300)) });
      },
    };
    scope.defer(async () => {
      await srv.stop();
      removeDir(dataDir);
    });
    return srv;
  }
}

/** The bare ws baseline server as a child process. */
async function startBaseline(scope) {
  const proc = spawnChild([BASELINE]);
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`baseline server did not start: ${proc.output()}`)), 10_000);
    const check = () => {
      const m = /PORT (\d+)/.exec(proc.output());
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    proc.child.stdout.on('data', check);
    proc.exited.then(() => reject(new Error(`baseline server exited: ${proc.output()}`)));
  });
  scope.defer(() => proc.stop(3000));
  return { proc, port, url: `ws://127.0.0.1:${port}/` };
}

/** Open a WebSocket; it is terminated when the scope closes. */
function openWs(scope, url, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    if (onMessage) ws.on('message', onMessage);
    const t = setTimeout(() => (ws.terminate(), reject(new Error(`connect to ${url} timed out`))), 10_000);
    ws.once('open', () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    scope.defer(() => ws.terminate());
  });
}

/** Waiters on a value that changes in message handlers. */
class Watch {
  waiters = [];
  notify() {
    for (const w of [...this.waiters])
      if (w.pred()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.t);
        w.resolve();
      }
  }
  until(pred, timeoutMs, what) {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

const median = (a) => pct(sortNum(a), 50);
const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n));
const log = (...a) => console.error('  ·', ...a);

// ---------------------------------------------------------------------------
// 1. ingest

function makeIngestData() {
  const { ingestClients: C, ingestEventsPerFrame: F, ingestEvents: N } = CFG;
  const perClient = Math.ceil(N / C / F) * F;
  const total = perClient * C;
  const frames = [];
  for (let c = 0; c < C; c++) {
    const mine = [];
    for (let i0 = 0; i0 < perClient; i0 += F) {
      const createdAt = new Date().toISOString();
      const events = [];
      for (let i = i0; i < i0 + F; i++) {
        const id = `c${c}-${String(i).padStart(7, '0')}`;
        events.push({ itemType: 'Bench', changeType: 'SET', item: { id, n: i, payload: `p-${id}-`.padEnd(64, 'x') }, createdAt, tx: `t-${id}` });
      }
      mine.push(JSON.stringify({ event: 'ws:m:event-batch', data: events }));
    }
    frames.push(mine);
  }
  return { frames, total, frameBytes: frames[0][0].length };
}

/**
 * The baseline: the very rows the server wrote (read back from its log after
 * the run) into a table and indexes created with the server's own DDL, with
 * better-sqlite3 in this process, in transactions of `batch` rows.
 */
function rawInsert(sync, log, batch) {
  const dir = tempDir('myko-bench-raw-');
  const db = new Database(path.join(dir, 'raw.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('locking_mode = EXCLUSIVE');
    for (const ddl of log.ddl) db.exec(ddl);
    const cols = log.columns;
    const ins = db.prepare(`INSERT INTO myko_events (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    const rows = log.rows;
    const txn = db.transaction((a, b) => {
      for (let i = a; i < b; i++) ins.run(rows[i]);
    });
    const c0 = selfCpuMs();
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += batch) txn(i, Math.min(rows.length, i + batch));
    const ms = performance.now() - t0;
    const cpuUsPerEvent = ((selfCpuMs() - c0) * 1000) / rows.length;
    return { eventsPerSec: (rows.length / ms) * 1000, cpuUsPerEvent, ms, batch, commits: Math.ceil(rows.length / batch) };
  } finally {
    db.close();
    removeDir(dir);
  }
}

/** The server's log after a run: DDL of myko_events and its indexes, and the Bench rows (without the autoincrement id). */
function readServerLog(dataDir) {
  const db = new Database(path.join(dataDir, 'myko.db'), { readonly: true });
  try {
    const ddl = db
      .prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = 'myko_events' AND sql IS NOT NULL ORDER BY type DESC`)
      .all()
      .map((r) => r.sql);
    const columns = db
      .prepare(`PRAGMA table_info(myko_events)`)
      .all()
      .filter((c) => !(c.pk && c.name === 'id'))
      .map((c) => c.name);
    const rows = db
      .prepare(`SELECT ${columns.join(', ')} FROM myko_events WHERE item_type = 'Bench' ORDER BY id`)
      .raw()
      .all();
    const bytes = rows.reduce((n, r) => n + r.reduce((m, v) => m + (typeof v === 'string' ? v.length : 8), 0), 0);
    return { ddl, columns, rows, meanRowBytes: bytes / Math.max(1, rows.length) };
  } finally {
    db.close();
  }
}

async function ingestServer(scope, sync, data, { extraArgs = [], name = `ingest-${sync}`, cli } = {}) {
  const { frames, total } = data;
  const srv = await startMyko(scope, { sync, name, extraArgs, cli });
  const watch = new Watch();
  let count = -1;
  let reports = 0;
  let tEnd = 0;
  const errors = [];
  const watcher = await openWs(scope, srv.url, (d) => {
    const f = JSON.parse(d.toString());
    if (f.event === 'ws:m:report-response' && f.data?.tx === 'r') {
      count = f.data.response;
      reports++;
      if (count === total && tEnd === 0) tEnd = performance.now();
      watch.notify();
    } else if (f.event === 'ws:m:report-error' || f.event === 'ws:m:error') errors.push(f);
  });
  watcher.send(JSON.stringify({ event: 'ws:m:report', data: { reportId: 'GetBenchsCount', report: { tx: 'r' } } }));
  await watch.until(() => count === 0, 5000, 'the first GetBenchsCount response');

  const clients = [];
  for (let c = 0; c < frames.length; c++)
    clients.push(
      await openWs(scope, srv.url, (d) => {
        const s = d.toString();
        if (s.includes('"ws:m:error"')) errors.push(JSON.parse(s));
      }),
    );

  const next = frames.map(() => 0);
  let sent = 0;
  let rr = 0;
  const pump = () => {
    while (sent - count < CFG.ingestWindowEvents) {
      let tries = 0;
      while (tries < clients.length && next[rr] >= frames[rr].length) (rr = (rr + 1) % clients.length), tries++;
      if (tries === clients.length) return;
      clients[rr].send(frames[rr][next[rr]++]);
      sent += CFG.ingestEventsPerFrame;
      rr = (rr + 1) % clients.length;
    }
  };
  const pumpWatch = { pred: () => (pump(), false) }; // pump on every count update
  watch.waiters.push(pumpWatch);
  const cpu0 = procCpuMs(srv.proc.child.pid);
  const threads0 = threadsCpuMs(srv.proc.child.pid);
  const machine0 = machineJiffies();
  const t0 = performance.now();
  pump();
  await watch.until(
    () => count === total || errors.length > 0,
    Math.max(1000, CFG.timeouts.ingest - 30_000),
    () => `count ${total} (at ${count}, sent ${sent})`,
  );
  const cpu1 = procCpuMs(srv.proc.child.pid);
  const split = threadSplit(srv.proc.child.pid, threads0, threadsCpuMs(srv.proc.child.pid));
  const machine1 = machineJiffies();
  watch.waiters.splice(watch.waiters.indexOf(pumpWatch), 1);
  if (errors.length > 0) throw new Error(`server answered with errors: ${JSON.stringify(errors.slice(0, 3))}`);
  const ms = tEnd - t0;
  const health = await srv.health();

  for (const ws of [watcher, ...clients]) ws.close();
  await srv.stop();
  // Durability check: every event is in the log once the server has stopped.
  const serverLog = readServerLog(srv.dataDir);
  removeDir(srv.dataDir);
  const stored = serverLog.rows.length;
  if (stored !== total) throw new Error(`log holds ${stored} Bench events, expected ${total}`);
  return {
    serverLog,
    cpuUsPerEvent: cpu0 === undefined || cpu1 === undefined ? NaN : ((cpu1 - cpu0) * 1000) / total,
    /** The event loop's thread alone: what bounds throughput when the store thread has a core of its own. */
    loopCpuUsPerEvent: threads0.size === 0 ? NaN : (split.loop * 1000) / total,
    /** The same by thread: event loop, store thread, V8 and libuv helpers (threadSplit), µs per event. */
    threadsUsPerEvent: Object.fromEntries(Object.entries(split).map(([k, ms]) => [k, (ms * 1000) / total])),
    /** Share of all cores' time the machine was busy during the run (every process), from /proc/stat. */
    machineBusy: machine0 && machine1 && machine1.total > machine0.total ? (machine1.busy - machine0.busy) / (machine1.total - machine0.total) : NaN,
    eventsPerSec: (total / ms) * 1000,
    ms,
    commitsSeen: reports - 1,
    eventsPerCommit: total / Math.max(1, reports - 1),
    healthPosition: health.position,
    storedBench: stored,
    exitNote: srv.exitNote,
  };
}

async function scenarioIngest(scope) {
  log(`ingest: preparing ${CFG.ingestEvents} events`);
  const data = makeIngestData();
  const out = { total: data.total, clients: CFG.ingestClients, eventsPerFrame: CFG.ingestEventsPerFrame, frameBytes: data.frameBytes, windowEvents: CFG.ingestWindowEvents, modes: {} };
  // Trials alternate the modes; noise on a shared machine only slows things down, so the best trial of each is kept.
  const trials = Object.fromEntries(INGEST_SYNCS.map((sync) => [sync, []]));
  const tStart = performance.now();
  for (let t = 1; t <= CFG.ingestTrials; t++)
    for (const sync of INGEST_SYNCS) {
      if (t > 1 && performance.now() - tStart > CFG.ingestBudgetMs) {
        log(`ingest: time budget spent, no trial ${t} for ${sync}`);
        continue;
      }
      log(`ingest: trial ${t}, server, sqliteSync=${sync}`);
      const server = await ingestServer(scope, sync, data);
      const { serverLog } = server;
      delete server.serverLog;
      server.meanRowBytes = Math.round(serverLog.meanRowBytes);
      log(`ingest: trial ${t}, raw better-sqlite3, synchronous=${sync}`);
      const raw = rawInsert(sync, serverLog, CFG.rawBatch);
      const rawMatched = rawInsert(sync, serverLog, Math.max(1, Math.round(server.eventsPerCommit)));
      trials[sync].push({ server, raw, rawMatched });
      if (!out.floor) {
        log('ingest: the floor (parse, identity, row text of the same events, in this process)');
        out.floor = ingestFloor({ frames: data.frames, rows: serverLog.rows, eventColumn: serverLog.columns.indexOf('event') });
      }
      log(`ingest: trial ${t} ${sync}: server ${fmtInt(server.eventsPerSec)}/s, raw ${fmtInt(raw.eventsPerSec)}/s`);
      if (t === 1 && sync === INGEST_SYNCS[0] && process.env.BENCH_INGEST_EXTRAS !== '0') {
        // The snapshot's share: the same run with no checkpoint during it (each new item is then written
        // once, to the log, instead of twice). Not a setting to serve with: boot would replay everything.
        log(`ingest: trial ${t}, server, sqliteSync=${sync}, no checkpoint during the run`);
        const held = await ingestServer(scope, sync, data, { name: `ingest-${sync}-held`, extraArgs: ['--checkpoint-every', '100000000', '--checkpoint-interval-ms', '3600000'] });
        delete held.serverLog;
        out.checkpointHeld = { sync, server: held, withCheckpoints: server, raw };
        // The store path alone: the same clients against a server that only parses, identifies and
        // commits through Myko's store thread (bench/ingest-path-server.mjs).
        log(`ingest: trial ${t}, the store path alone (ingest-path-server.mjs), sqliteSync=${sync}`);
        const storePath = await ingestServer(scope, sync, data, { name: `ingest-${sync}-path`, cli: STORE_PATH_SERVER });
        delete storePath.serverLog;
        out.storePath = { sync, server: storePath, withCheckpoints: server, raw };
      }
    }
  const best = (list) => list.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
  for (const [sync, list] of Object.entries(trials)) {
    const server = best(list.map((x) => x.server));
    const raw = best(list.map((x) => x.raw));
    const rawMatched = best(list.map((x) => x.rawMatched));
    const minCpu = (l) => Math.min(...l.map((x) => x.cpuUsPerEvent).filter(Number.isFinite));
    const cpu = { server: minCpu(list.map((x) => x.server)), raw: minCpu(list.map((x) => x.raw)) };
    cpu.ratio = cpu.server / cpu.raw;
    if (out.floor) {
      // The floor's insert: the raw insert in transactions of the server's group size (its cheapest trial).
      const insert = minCpu(list.map((x) => x.rawMatched));
      const f = out.floor;
      cpu.floor = { insert, total: f.parse + f.identity + f.rowText + insert };
    }
    out.modes[sync] = {
      server,
      raw,
      rawMatched,
      cpu,
      ratio: server.eventsPerSec / raw.eventsPerSec,
      ratioMatched: server.eventsPerSec / rawMatched.eventsPerSec,
      trials: list.map((x) => ({ serverCpuUs: +x.server.cpuUsPerEvent.toFixed(2), loopCpuUs: +x.server.loopCpuUsPerEvent.toFixed(2), threadsUs: x.server.threadsUsPerEvent, machineBusy: x.server.machineBusy, rawCpuUs: +x.raw.cpuUsPerEvent.toFixed(2), server: Math.round(x.server.eventsPerSec), raw: Math.round(x.raw.eventsPerSec), rawMatched: Math.round(x.rawMatched.eventsPerSec), eventsPerCommit: Math.round(x.server.eventsPerCommit) })),
    };
  }
  return out;
}

// ---------------------------------------------------------------------------
// 2. fanout

/**
 * Over (before, after) scrapes of one histogram, one pair per measured block of an interleaved run:
 * batches, mean ms, and the bucket bounds (ms) that hold the p50 and p99 (upper bounds).
 */
function histogramDeltas(pairs) {
  let count = 0;
  let sum = 0;
  const buckets = pairs[0][1].buckets.map(([le]) => [le, 0]);
  for (const [a, b] of pairs) {
    count += b.count - a.count;
    sum += b.sum - a.sum;
    b.buckets.forEach(([, c], i) => (buckets[i][1] += c - a.buckets[i][1]));
  }
  const bound = (q) => {
    const want = count * q;
    for (const [le, c] of buckets) if (c >= want) return le;
    return Infinity;
  };
  return { batches: count, meanMs: count > 0 ? sum / count : NaN, p50AtMostMs: bound(0.5), p99AtMostMs: bound(0.99) };
}

/**
 * Subscribers and one writer against a server of `kind` ('myko' | 'bare').
 * Returns measure(n, rounds, …): add subscribers up to n, warm up, then run the rounds of one block;
 * mergeBlocks makes a server's blocks one result.
 */
async function fanoutHarness(scope, kind, url, serverPid) {
  const subs = [];
  let round = null;
  const onDelivery = (d) => {
    const now = performance.now();
    const f = JSON.parse(d.toString());
    if (round === null || f.event !== 'ws:m:query-response' || !(f.data.sequence > 0)) return;
    if (f.data.upserts?.[0]?.item?.n !== round.n) return;
    round.lat.push(now - round.t0);
    if (++round.got === round.expected) {
      round.last = now - round.t0;
      round.resolve();
    }
  };

  async function addSubscriber(i) {
    let ready;
    const readyP = new Promise((r) => (ready = r));
    const tx = `sub-${i}`;
    const ws = await openWs(scope, url, (d) => {
      if (ready) {
        const s = d.toString();
        if (kind === 'bare' ? s === '{"event":"sub-ok"}' : s.includes('"ws:m:query-response"') && JSON.parse(s).data.tx === tx) {
          ready();
          ready = null;
        }
        return;
      }
      onDelivery(d);
    });
    ws.send(
      kind === 'bare'
        ? '{"event":"sub"}'
        : JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetAllTicks', queryItemType: 'Tick', query: { tx } } }),
    );
    await Promise.race([readyP, sleep(20_000).then(() => Promise.reject(new Error(`subscriber ${i} got no first response`)))]);
    subs.push(ws);
  }

  const writer = await openWs(scope, url);
  return async function measure(n, rounds, warmup, warmupMs) {
    const tConnect = performance.now();
    const before = subs.length;
    for (let i = subs.length; i < n; ) {
      const batch = [];
      for (let k = 0; k < 50 && i < n; k++, i++) batch.push(addSubscriber(i));
      await Promise.all(batch);
    }
    const connectMs = performance.now() - tConnect;
    await sleep(200); // let connection bookkeeping (Client items) settle
    const all = [];
    const lasts = [];
    // Warm-up: at least `warmup` rounds and at least `warmupMs` (the server's JIT settles; see CFG.fanoutWarmupMsOne).
    let warmRounds = 0;
    let cpu0;
    let hist0;
    const tWarm = performance.now();
    for (let r = 0, measured = 0; measured < rounds; r++) {
      const warming = r < warmup || performance.now() - tWarm < warmupMs;
      if (warming) warmRounds++;
      else if (measured === 0) {
        if (kind === 'myko') hist0 = await scrapeEventToDiff(url);
        cpu0 = procCpuMs(serverPid);
      }
      const n_ = `${n}:${r}`;
      const item = { id: 'tick', n: n_ };
      const frame =
        kind === 'bare'
          ? JSON.stringify({ event: 'pub', data: { itemType: 'Tick', item } })
          : JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Tick', changeType: 'SET', item, createdAt: new Date().toISOString(), tx: `w-${n_}` } });
      const done = new Promise((resolve) => (round = { n: n_, got: 0, expected: subs.length, lat: [], resolve, t0: 0 }));
      const timer = sleep(10_000).then(() => Promise.reject(new Error(`round ${r}: ${round.got}/${round.expected} deliveries after 10 s`)));
      timer.catch(() => {});
      round.t0 = performance.now();
      writer.send(frame);
      await Promise.race([done, timer]);
      if (!warming) {
        measured++;
        all.push(...round.lat);
        lasts.push(round.last);
      }
    }
    round = null;
    const cpu1 = procCpuMs(serverPid);
    // Only this writer's SETs change state during the measured rounds: one histogram sample per round.
    const hist1 = kind === 'myko' ? await scrapeEventToDiff(url) : undefined;
    return {
      subscribers: n,
      rounds,
      warmRounds,
      newSubscribers: n - before,
      connectMs,
      all,
      lasts,
      cpuMs: cpu0 === undefined || cpu1 === undefined ? NaN : cpu1 - cpu0,
      hist: hist1 ? [hist0, hist1] : undefined,
    };
  };
}

/** One server's measured blocks of an interleaved run (scenarioFanout), as one result. */
function mergeBlocks(blocks) {
  const sa = sortNum(blocks.flatMap((b) => b.all));
  const sl = sortNum(blocks.flatMap((b) => b.lasts));
  const rounds = blocks.reduce((n, b) => n + b.rounds, 0);
  const hists = blocks.map((b) => b.hist).filter(Boolean);
  return {
    subscribers: blocks[0].subscribers,
    rounds,
    blocks: blocks.length,
    warmRounds: blocks.reduce((n, b) => n + b.warmRounds, 0),
    newSubscribers: blocks.reduce((n, b) => n + b.newSubscribers, 0),
    connectMs: blocks.reduce((n, b) => n + b.connectMs, 0),
    deliveries: sa.length,
    p50: pct(sa, 50),
    p99: pct(sa, 99),
    lastP50: pct(sl, 50),
    lastP99: pct(sl, 99),
    lastMax: sl[sl.length - 1],
    serverCpuMsPerRound: blocks.reduce((n, b) => n + b.cpuMs, 0) / rounds,
    inServer:
      hists.length > 0
        ? {
            ...histogramDeltas(hists.map(([a, b]) => [a.toDiff, b.toDiff])),
            appendMeanMs: histogramDeltas(hists.map(([a, b]) => [a.append, b.append])).meanMs,
          }
        : undefined,
  };
}

/**
 * For context: one single-row transaction with better-sqlite3 (WAL, synchronous=FULL), the durable-commit floor of one event.
 * `roomy`: the WAL file first extended with zeros by the server's own preallocateWal (store/sqlite/wal-prealloc.ts), so the
 * commits overwrite blocks already on disk; otherwise each commit grows the file.
 */
function singleRowCommit(n = 1000, roomy = false) {
  const dir = tempDir('myko-bench-fsync-');
  const file = path.join(dir, 'one.db');
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)');
    if (roomy) {
      db.pragma('wal_autocheckpoint = 0');
      if (preallocateWal(db, 16 << 20) === 0) throw new Error('singleRowCommit: the WAL was not preallocated');
    }
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    const one = db.transaction((v) => ins.run(v));
    const times = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      one(`{"itemType":"Tick","item":{"id":"tick","n":${i}}}`);
      times.push(performance.now() - t);
    }
    const s = sortNum(times);
    return { p50: pct(s, 50), p99: pct(s, 99) };
  } finally {
    db.close();
    removeDir(dir);
  }
}

/**
 * Both servers run side by side and are measured in CFG.fanoutBlocks interleaved blocks (the first
 * server of a block alternates), so whatever else the machine does falls on both alike: measured one
 * after the other, the 1,000-subscriber ratio moved between 0.82 and 1.27 at p99 between runs of the
 * same build (bench/RESULTS.md, issue 15, eleventh part). The first block of each server warms up as
 * long as before (the JIT); later blocks after CFG.fanoutWarmup rounds and CFG.fanoutWarmupMsBlock.
 */
async function scenarioFanout(scope) {
  const B = CFG.fanoutBlocks;
  const out = { subscribers: CFG.fanoutSubs, rounds: CFG.fanoutRounds, roundsOne: CFG.fanoutRoundsOne, warmup: CFG.fanoutWarmup, blocks: B, sqliteSync: FANOUT_SYNC, runs: {} };
  out.commitFloor = singleRowCommit();
  out.commitFloorRoomy = singleRowCommit(1000, true);
  const inner = new Scope();
  try {
    const servers = { myko: await startMyko(inner, { name: 'fanout', sync: FANOUT_SYNC }), bare: await startBaseline(inner) };
    const measure = {};
    for (const kind of ['myko', 'bare']) measure[kind] = await fanoutHarness(inner, kind, servers[kind].url, servers[kind].proc.child.pid);
    const phases = [
      ['one', 1, CFG.fanoutRoundsOne, CFG.fanoutWarmupMsOne],
      ['many', CFG.fanoutSubs, CFG.fanoutRounds, CFG.fanoutWarmupMs],
    ];
    for (const [phase, n, rounds, firstWarmupMs] of phases) {
      const blocks = { myko: [], bare: [] };
      const perBlock = Math.ceil(rounds / B);
      for (let b = 0; b < B; b++)
        for (const kind of b % 2 === 0 ? ['myko', 'bare'] : ['bare', 'myko']) {
          log(`fanout ${kind}: ${n} subscriber${n === 1 ? '' : 's'}, block ${b + 1} of ${B}`);
          blocks[kind].push(await measure[kind](n, perBlock, CFG.fanoutWarmup, b === 0 ? firstWarmupMs : CFG.fanoutWarmupMsBlock));
        }
      for (const kind of ['myko', 'bare']) (out.runs[kind] ??= {})[phase] = mergeBlocks(blocks[kind]);
    }
    for (const kind of ['myko', 'bare']) {
      const { one, many } = out.runs[kind];
      log(`fanout ${kind}: 1 sub p50 ${fmt(one.p50)} ms; ${CFG.fanoutSubs} subs p50 ${fmt(many.p50)} p99 ${fmt(many.p99)} last p99 ${fmt(many.lastP99)} ms (connect ${fmt(many.connectMs, 0)} ms)`);
    }
  } finally {
    await inner.close();
  }
  const m = out.runs.myko;
  const b = out.runs.bare;
  out.ratios = {};
  for (const k of ['one', 'many'])
    out.ratios[k] = Object.fromEntries(
      [['p50', 'p50'], ['p99', 'p99'], ['lastP50', 'lastP50'], ['lastP99', 'lastP99'], ['cpu', 'serverCpuMsPerRound']].map(([name, q]) => [name, m[k][q] / b[k][q]]),
    );
  return out;
}

// ---------------------------------------------------------------------------
// 3. snapshot

async function timeRequests(send, runs, warmup) {
  const times = [];
  let bytes = 0;
  let payload;
  for (let r = 0; r < warmup + runs; r++) {
    const res = await send(r);
    if (r >= warmup) times.push(res.ms);
    bytes = res.bytes;
    payload = res.payload;
  }
  const s = sortNum(times);
  return { runs, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), min: s[0], max: s[s.length - 1], bytes, payload };
}

async function scenarioSnapshot(scope) {
  const N = CFG.snapshotItems;
  const srv = await startMyko(scope, { name: 'snapshot' });
  const watch = new Watch();
  let count = -1;
  const loader = await openWs(scope, srv.url, (d) => {
    const f = JSON.parse(d.toString());
    if (f.event === 'ws:m:report-response' && f.data?.tx === 'c') (count = f.data.response), watch.notify();
  });
  loader.send(JSON.stringify({ event: 'ws:m:report', data: { reportId: 'GetItemsCount', report: { tx: 'c' } } }));
  log(`snapshot: preloading ${N} items`);
  const createdAt = new Date().toISOString();
  for (let i0 = 0; i0 < N; i0 += 250) {
    const events = [];
    for (let i = i0; i < Math.min(N, i0 + 250); i++) {
      const id = `item-${String(i).padStart(6, '0')}`;
      events.push({ itemType: 'Item', changeType: 'SET', item: { id, n: i, payload: `p-${id}-`.padEnd(64, 'x') }, createdAt, tx: `l-${id}` });
    }
    loader.send(JSON.stringify({ event: 'ws:m:event-batch', data: events }));
  }
  await watch.until(() => count === N, 30_000, () => `${N} items (at ${count})`);

  // One connection, a fresh tx per run, cancelled after its first response.
  let pending = null;
  const q = await openWs(scope, srv.url, (d) => {
    const now = performance.now();
    if (!pending) return;
    const s = d.toString();
    if (!s.startsWith('{"event":"ws:m:query-response"')) return;
    const f = JSON.parse(s);
    if (f.data.tx !== pending.tx || f.data.sequence !== 0) return;
    if (f.data.upserts.length !== N) return pending.reject(new Error(`snapshot has ${f.data.upserts.length} items, expected ${N}`));
    pending.resolve({ ms: now - pending.t0, bytes: d.length, payload: s });
  });
  log(`snapshot: myko, ${CFG.snapshotRuns} runs`);
  const myko = await timeRequests(
    (r) =>
      new Promise((resolve, reject) => {
        const tx = `snap-${r}`;
        const t = setTimeout(() => reject(new Error(`snapshot run ${r} timed out`)), 10_000);
        pending = { tx, resolve: (v) => (clearTimeout(t), q.send(JSON.stringify({ event: 'ws:m:query-cancel', data: { tx } })), resolve(v)), reject, t0: 0 };
        pending.t0 = performance.now();
        q.send(JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetAllItems', queryItemType: 'Item', query: { tx } } }));
      }),
    CFG.snapshotRuns,
    CFG.snapshotWarmup,
  );
  const payload = myko.payload;
  delete myko.payload;
  // Client-side cost, for context: parsing the response.
  const parseTimes = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    JSON.parse(payload);
    parseTimes.push(performance.now() - t);
  }
  await srv.stop();

  log(`snapshot: bare ws sending the same ${payload.length} bytes`);
  const base = await startBaseline(scope);
  let waiting = null;
  const bq = await openWs(scope, base.url, (d) => {
    const now = performance.now();
    if (waiting) {
      const w = waiting;
      waiting = null;
      w.resolve({ ms: now - w.t0, bytes: d.length, payload: undefined });
    }
  });
  await new Promise((resolve) => {
    waiting = { resolve, t0: 0 };
    bq.send(JSON.stringify({ event: 'store', data: payload }));
  });
  const bare = await timeRequests(
    () =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('baseline get timed out')), 10_000);
        waiting = { resolve: (v) => (clearTimeout(t), resolve(v)), t0: performance.now() };
        bq.send('{"event":"get"}');
      }),
    CFG.snapshotRuns,
    CFG.snapshotWarmup,
  );
  delete bare.payload;
  if (bare.bytes !== myko.bytes) throw new Error(`baseline sent ${bare.bytes} bytes, myko ${myko.bytes}`);
  return { items: N, myko, bare, ratio: myko.p50 / bare.p50, clientParseP50: median(parseTimes) };
}

// ---------------------------------------------------------------------------
// Report

function machine() {
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  } catch {}
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    kernel,
    platform: `${os.platform()} ${os.arch()}`,
    loadAvgAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

/** How this run was started, as a shell line (the BENCH_* settings included). */
function commandLine() {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_SERVER_LABEL')
    .map(([k, v]) => `${k}=${/^[\w./,:-]+$/.test(v) ? v : JSON.stringify(v)} `)
    .join('');
  const main = process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : ['node bench/run.mjs', ...process.argv.slice(2)].join(' ');
  return env + main;
}

function gitRev() {
  if (process.env.BENCH_SERVER_CLI)
    return `server ${process.env.BENCH_SERVER_LABEL ?? ''} from ${process.env.BENCH_SERVER_CLI} (BENCH_SERVER_CLI), bench from ${gitRevOfCheckout()}`;
  return gitRevOfCheckout();
}

function gitRevOfCheckout() {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return rev + (dirty ? ' (packages/ had uncommitted changes)' : '');
  } catch {
    return 'unknown';
  }
}

function tables(res) {
  const lines = [];
  const row = (...cells) => lines.push(`| ${cells.join(' | ')} |`);
  if (res.ingest?.error) lines.push(`**ingest failed:** ${res.ingest.error}`, '');
  else if (res.ingest) {
    const g = res.ingest;
    lines.push(`### ingest: ${fmtInt(g.total)} events, ${g.clients} clients × event-batch frames of ${g.eventsPerFrame} events (~${fmtInt(g.frameBytes)} B), ≤ ${fmtInt(g.windowEvents)} events in flight`, '');
    row('sqliteSync', 'server events/s', `raw events/s (tx of ${CFG.rawBatch})`, 'server/raw', 'server commits seen', 'events/commit', 'raw events/s (same tx size)', 'server/raw (same tx size)', 'row bytes');
    row('---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:');
    for (const [sync, m] of Object.entries(g.modes))
      row(sync, fmtInt(m.server.eventsPerSec), fmtInt(m.raw.eventsPerSec), fmt(m.ratio, 3), fmtInt(m.server.commitsSeen), fmtInt(m.server.eventsPerCommit), fmtInt(m.rawMatched.eventsPerSec), fmt(m.ratioMatched, 3), fmtInt(m.server.meanRowBytes));
    lines.push('', 'CPU time per event (user + system; the server child from /proc, the baseline from process.cpuUsage; less sensitive to other load than events/s):', '');
    row('sqliteSync', 'server µs/event', `raw µs/event (tx of ${CFG.rawBatch})`, 'server/raw');
    row('---', '---:', '---:', '---:');
    for (const [sync, m] of Object.entries(g.modes)) row(sync, fmt(m.cpu.server, 1), fmt(m.cpu.raw, 1), fmt(m.cpu.ratio, 1));
    lines.push('', `Best of up to ${CFG.ingestTrials} trials per mode (server and baseline each); every trial, events/s server / raw (CPU µs/event server / raw; of it, the server's event-loop thread):`);
    for (const [sync, m] of Object.entries(g.modes))
      lines.push(`- ${sync}: ${m.trials.map((t) => `${fmtInt(t.server)} / ${fmtInt(t.raw)} (${fmt(t.serverCpuUs, 1)} / ${fmt(t.rawCpuUs, 1)}; loop ${fmt(t.loopCpuUs, 1)})`).join('; ')}`);
    lines.push('', "Where the server's CPU went, µs per event, and how busy the whole machine (2 cores: the server, the bench's clients, anything else) was during each server run:", '');
    row('sqliteSync', 'trial', 'event loop', 'store thread', 'V8 and libuv helpers', 'machine busy');
    row('---', '---:', '---:', '---:', '---:', '---:');
    for (const [sync, m] of Object.entries(g.modes))
      m.trials.forEach((t, i) => t.threadsUs && row(sync, i + 1, fmt(t.threadsUs.loop, 1), fmt(t.threadsUs.store, 1), fmt(t.threadsUs.helpers, 1), `${fmt(100 * t.machineBusy, 0)}%`));
    if (g.floor) {
      const f = g.floor;
      lines.push(
        '',
        "The floor (bench/ingest-floor.mjs): CPU per event of the work this load needs whatever the server's design, measured alone in the bench's process " +
          `(best of 3): parse the clients' frames, compute each event's identity (item hash, dHash, \`_id\`, chain: four SHA-256) with the server's own functions, ` +
          `write each stored event as its row text (${fmtInt(f.rowChars)} characters), and insert the rows in transactions of the server's group size. ` +
          'WebSocket I/O, validation, state, the live count, the checkpoint, acknowledgements and their garbage are left out: a lower bound, not a design.',
        '',
      );
      row('sqliteSync', 'parse', 'identity', 'row text', 'insert', 'floor', `floor ÷ raw (tx of ${CFG.rawBatch})`, 'server', 'server − floor', 'server ÷ floor');
      row('---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:');
      for (const [sync, m] of Object.entries(g.modes))
        if (m.cpu.floor)
          row(sync, fmt(f.parse, 2), fmt(f.identity, 2), fmt(f.rowText, 2), fmt(m.cpu.floor.insert, 2), fmt(m.cpu.floor.total, 1), fmt(m.cpu.floor.total / m.cpu.raw, 2), fmt(m.cpu.server, 1), fmt(m.cpu.server - m.cpu.floor.total, 1), fmt(m.cpu.server / m.cpu.floor.total, 2));
    }
    const h = g.checkpointHeld;
    if (h) {
      const w = h.withCheckpoints;
      lines.push(
        '',
        `The checkpoint's share (${h.sync}, trial 1, the same server with no checkpoint during the run): ${fmtInt(h.server.eventsPerSec)} events/s, ` +
          `${fmt(h.server.eventsPerSec / h.raw.eventsPerSec, 3)} of the raw insert, ${fmt(h.server.cpuUsPerEvent, 1)} µs of CPU per event ` +
          `(event loop ${fmt(h.server.threadsUsPerEvent.loop, 1)}, store thread ${fmt(h.server.threadsUsPerEvent.store, 1)}), against ${fmtInt(w.eventsPerSec)} events/s and ${fmt(w.cpuUsPerEvent, 1)} µs with checkpoints. ` +
          'Every event of this load creates an item, so a checkpoint writes each one a second time.',
      );
    }
    const sp = g.storePath;
    if (sp) {
      const split = sp.server.threadsUsPerEvent;
      lines.push(
        '',
        `The store path alone (${sp.sync}, \`bench/ingest-path-server.mjs\`, the same clients: parse the frames, hash and identify each event with the server's own functions, ` +
          "commit through Myko's SQLite store on its thread, one group commit at a time, and send the count; no validation, state, checkpoint or live queries): " +
          `${fmtInt(sp.server.eventsPerSec)} events/s, **${fmt(sp.server.eventsPerSec / sp.raw.eventsPerSec, 3)} of the raw insert**, ${fmt(sp.server.cpuUsPerEvent, 1)} µs of CPU per event ` +
          `(event loop ${fmt(split.loop, 1)}, store thread ${fmt(split.store, 1)}, helpers ${fmt(split.helpers, 1)}; ${fmtInt(sp.server.eventsPerCommit)} events per commit), against Myko's ${fmtInt(sp.withCheckpoints.eventsPerSec)} events/s and ${fmt(sp.withCheckpoints.cpuUsPerEvent, 1)} µs in the same trial.`,
      );
    }
    lines.push('');
  }
  if (res.fanout?.error) lines.push(`**fanout failed:** ${res.fanout.error}`, '');
  else if (res.fanout) {
    const f = res.fanout;
    lines.push(`### fanout: one writer, SET of one Tick per round, ${f.roundsOne ?? f.rounds} rounds with 1 subscriber and ${f.rounds} with ${f.subscribers} in ${f.blocks ?? 1} interleaved blocks per server, both servers running side by side (Myko's warm-up rounds ${f.runs.myko.one.warmRounds} / ${f.runs.myko.many.warmRounds}: ≥ ${CFG.fanoutWarmupMsOne / 1000} / ${CFG.fanoutWarmupMs / 1000} s before a server's first block, ≥ ${CFG.fanoutWarmup} rounds and ${CFG.fanoutWarmupMsBlock / 1000} s before each other), latency writer send → subscriber receipt, ms (Myko sqliteSync=${f.sqliteSync})`, '');
    row('subscribers', 'server', 'p50', 'p99', 'last-of-round p50', 'last-of-round p99', 'last max', 'server CPU ms/round');
    row('---:', '---', '---:', '---:', '---:', '---:', '---:', '---:');
    for (const k of ['one', 'many']) {
      for (const kind of ['myko', 'bare']) {
        const r = f.runs[kind][k];
        row(r.subscribers, kind === 'myko' ? 'Myko' : 'bare ws', fmt(r.p50, 3), fmt(r.p99, 3), fmt(r.lastP50, 3), fmt(r.lastP99, 3), fmt(r.lastMax, 3), fmt(r.serverCpuMsPerRound, 2));
      }
      const q = f.ratios[k];
      row(f.runs.myko[k].subscribers, '**ratio Myko/bare**', fmt(q.p50), fmt(q.p99), fmt(q.lastP50), fmt(q.lastP99), '', fmt(q.cpu));
    }
    lines.push(
      '',
      `Connecting ${f.subscribers} subscribers (query + first response, 50 at a time): Myko ${fmt(f.runs.myko.many.connectMs, 0)} ms, bare ws ${fmt(f.runs.bare.many.connectMs, 0)} ms.`,
      `For context, a single-row durable commit (better-sqlite3, WAL, synchronous=FULL) takes p50 ${fmt(f.commitFloor.p50, 3)} ms, p99 ${fmt(f.commitFloor.p99, 3)} ms here in a WAL that grows` +
        (f.commitFloorRoomy ? `, p50 ${fmt(f.commitFloorRoomy.p50, 3)} ms, p99 ${fmt(f.commitFloorRoomy.p99, 3)} ms in a WAL with room (the server preallocates its WAL)` : '') +
        `: Myko commits every event before its diff goes out.`,
      '',
      `In the server (myko_event_to_diff_seconds from its /metrics over the measured rounds: an event accepted → its diffs written to every subscriber's socket, commit included; percentiles are histogram bucket bounds): ` +
        `1 subscriber ${inServerText(f.runs.myko.one.inServer)}; ${f.subscribers} subscribers ${inServerText(f.runs.myko.many.inServer)}.`,
      '',
    );
  }
  if (res.snapshot?.error) lines.push(`**snapshot failed:** ${res.snapshot.error}`, '');
  else if (res.snapshot) {
    const s = res.snapshot;
    lines.push(`### snapshot: first response (sequence 0) of GetAllItems over ${fmtInt(s.items)} items, ${fmtInt(s.myko.bytes)} B, ${s.myko.runs} runs`, '');
    row('server', 'p50 ms', 'p90 ms', 'p99 ms', 'min ms', 'max ms');
    row('---', '---:', '---:', '---:', '---:', '---:');
    for (const [name, r] of [['Myko', s.myko], ['bare ws, same bytes precomputed', s.bare]]) row(name, fmt(r.p50), fmt(r.p90), fmt(r.p99), fmt(r.min), fmt(r.max));
    row('**ratio Myko/bare (p50)**', fmt(s.ratio), '', '', '', '');
    lines.push('', `For context, JSON.parse of that response in the client takes ${fmt(s.clientParseP50)} ms (not included above).`, '');
  }
  return lines.join('\n');
}

/** The in-server histogram delta as text: bucket bounds are upper bounds of the percentiles. */
const inServerText = (h) =>
  h
    ? `mean **${fmt(h.meanMs, 3)} ms** (of it the store's append, i.e. the durable commit, on the event loop's connection for a lone SET while the store thread is idle, mean ${fmt(h.appendMeanMs, 3)} ms), p50 ≤ **${fmt(h.p50AtMostMs, 2)} ms**, p99 ≤ **${fmt(h.p99AtMostMs, 2)} ms** (${h.batches} batches)`
    : 'not measured';
const verdict = (h) => (!h ? 'not measured' : h.p99AtMostMs <= 1 ? 'met' : 'not met');

function resultsMarkdown(res, m, date, scenarios, wallMs) {
  const g = res.ingest && !res.ingest.error ? res.ingest : undefined;
  const f = res.fanout && !res.fanout.error ? res.fanout : undefined;
  const s = res.snapshot && !res.snapshot.error ? res.snapshot : undefined;
  const aims = [];
  if (g)
    aims.push(
      `- ingest aim 100,000 events/s with batches: ` +
        Object.entries(g.modes)
          .map(([sync, m]) => `sqliteSync=${sync} **${fmtInt(m.server.eventsPerSec)}/s** (${m.server.eventsPerSec >= 100_000 ? 'met' : 'not met'})`)
          .join(', ') +
        `; the server spends **${fmt(g.modes[INGEST_SYNCS[0]].cpu.server, 1)} µs of CPU per event** (${INGEST_SYNCS[0]}), where 100,000/s on its one event-loop thread needs ≤ 10 µs` +
        ` (the bare inserts alone: ${fmt(g.modes[INGEST_SYNCS[0]].cpu.raw, 1)} µs` +
        (g.modes[INGEST_SYNCS[0]].cpu.floor ? `; the floor, the inserts with the parsing, identity and row text no design avoids: ${fmt(g.modes[INGEST_SYNCS[0]].cpu.floor.total, 1)} µs` : '') +
        ').',
    );
  if (f)
    aims.push(
      `- query update aim < 1 ms p99 (event arrival → diff leaving the server): in the server (its myko_event_to_diff_seconds histogram: ` +
        `accepted → diffs written to the sockets, durable commit included) ${inServerText(f.runs.myko.one.inServer)} with 1 subscriber, ` +
        `${inServerText(f.runs.myko.many.inServer)} with ${f.subscribers} → ${verdict(f.runs.myko.many.inServer)}. ` +
        `End to end (client send → client receipt, an upper bound): ` +
        `1 subscriber p50 **${fmt(f.runs.myko.one.p50, 3)} ms**, p99 **${fmt(f.runs.myko.one.p99, 3)} ms** (bare ws ${fmt(f.runs.bare.one.p50, 3)} / ${fmt(f.runs.bare.one.p99, 3)} ms; ` +
        `one durable SQLite commit alone ${fmt(f.commitFloor.p50, 3)} / ${fmt(f.commitFloor.p99, 3)} ms in a WAL that grows` +
        (f.commitFloorRoomy ? `, ${fmt(f.commitFloorRoomy.p50, 3)} / ${fmt(f.commitFloorRoomy.p99, 3)} ms in one with room` : '') +
        `); ` +
        `${f.subscribers} subscribers: every delivery p99 **${fmt(f.runs.myko.many.p99, 2)} ms**, last delivery of a round p99 **${fmt(f.runs.myko.many.lastP99, 2)} ms** (bare ws ${fmt(f.runs.bare.many.p99, 2)} / ${fmt(f.runs.bare.many.lastP99, 2)} ms).`,
    );
  if (s) aims.push(`- snapshot aim < 100 ms for ${fmtInt(s.items)} items: p50 **${fmt(s.myko.p50, 1)} ms** → ${s.myko.p50 < 100 ? 'met' : 'not met'}.`);
  return `# Benchmark results

Generated by \`${commandLine()}\` on ${date}; scenarios: ${scenarios.join(', ')}; wall time ${fmt(wallMs / 1000, 1)} s.
Code: ${gitRev()}.

Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.platform}, kernel ${m.kernel}, Node ${m.node};
load average at start ${m.loadAvgAtStart.join(' / ')} (1/5/15 min: other work on the machine adds noise).
The bench clients and the server share these cores, so absolute figures are
noisy; each scenario measures its baseline in the same run, and the ratios are
the figures to compare between runs.

## Against the aims

${aims.join('\n')}

## Figures

${tables(res)}
## Server output

${serverNotes.length === 0 ? 'Every Myko server child printed nothing at log level warn and exited with code 0 on SIGTERM.' : serverNotes.map((n) => `- ${n.name}: ${n.exit ?? 'exit 0'}; ${n.lines} line(s) at warn or above${n.first.length ? ', first: ' + n.first.map((l) => '`' + l.replace(/`/g, "'") + '`').join(' ') : ''}`).join('\n')}

## What is measured

- **ingest**: the server (\`packages/server/dist/cli.js serve\`, fresh temp data
  dir, log level warn) takes \`ws:m:event-batch\` frames from 4 WebSocket
  clients; every event SETs a distinct \`Bench\` item (id, n, a 64-byte payload;
  no hash, so the server computes it). A 5th client holds the live report
  \`GetBenchsCount\`; the clock stops when it reports the total. The server
  reduces state only after the commit, so that count means the events are in
  the log (durable for \`full\`). The sending window (events sent minus events
  counted) is bounded. After each run the server is stopped and the log is
  counted with better-sqlite3 to check every event is there. "Server commits
  seen" is the number of count updates the watcher received, one per commit
  carrying Bench events, so events/commit is the mean group-commit size.
  Up to ${CFG.ingestTrials} trials per mode (fewer if time runs short), the modes alternating; the best trial of the server
  and the best of the baseline are kept (noise only ever slows a run down).
  CPU per event is the server child's user + system time over the run (from
  \`/proc\`), divided by the events: unlike events/s it hardly depends on how
  much of the 2 cores other processes took. It is split by thread (event
  loop; store thread, the busiest other thread; the rest, V8's and libuv's
  helpers), beside the share of all cores the machine was busy during the
  run (\`/proc/stat\`). Once, the first mode's first trial is run again with
  no checkpoint during it (\`--checkpoint-every\` and
  \`--checkpoint-interval-ms\` past the run): what the snapshot costs a
  load where every event creates an item.
  **Baseline**: the very rows the server wrote (read back from its log after
  the run: all columns but the autoincrement id, mean row size in the table)
  inserted with better-sqlite3 in the bench process into a table and indexes
  made from the server's own DDL (\`sqlite_master\`), WAL, exclusive locking,
  same \`synchronous\`, transactions of ${CFG.rawBatch} rows; also with transactions of
  the server's observed mean commit size. The baseline has no network, no
  parsing, no validation, no hashing and no state: the ratio is what all of
  those cost on top of the insert.
  **Floor** (\`bench/ingest-floor.mjs\`, after the first trial): the part of that
  which no design of a server keeping this log avoids, measured alone in the
  bench process, CPU per event, best of 3: JSON.parse of the clients' frames,
  each event's identity (item hash, dHash, \`_id\`, chain) with the server's own
  functions (checked against the identity the server stored), JSON.stringify
  of each stored event (the row's text), plus the raw insert in transactions
  of the server's mean commit size. A lower bound of the server's CPU per
  event: floor ÷ raw is how much of the "CPU ÷ raw" aim that work alone takes.
  **The store path alone** (\`bench/ingest-path-server.mjs\`, once, after the
  run with no checkpoint): the same clients against a server that parses the
  frames, hashes and identifies each event with the server's own functions and
  commits them through Myko's SQLite store on its thread (the same encoding,
  hop, statements and fsync), one group commit at a time, then sends the count:
  what ingest reaches through Myko's store path with nothing else on the way.
- **fanout**: ${f ? f.subscribers : CFG.fanoutSubs} WebSocket connections each hold \`ws:m:query GetAllTicks\`
  (subscribed before measuring, first response awaited); one writer sends a
  single \`ws:m:event\` SET of the one Tick item, waits until every subscriber
  has received the diff, and sends the next. Latency is the bench-process
  clock from the writer's \`send\` to each subscriber's \`message\` event; "last
  of round" is the slowest subscriber of each round. The same is measured
  with 1 subscriber first, after ${CFG.fanoutWarmupMsOne / 1000} s of warm-up rounds (the server's JIT compiles
  for 7-10 s of this load; both servers get the same warm-up), and with ${f ? f.subscribers : CFG.fanoutSubs}
  after ${CFG.fanoutWarmupMs / 1000} s more. Both servers run side by side and are measured in
  ${CFG.fanoutBlocks} interleaved blocks of each phase's rounds (which server goes first alternates),
  so the machine's other load falls on both alike; blocks after a server's first warm up for
  ${CFG.fanoutWarmup} rounds and ${CFG.fanoutWarmupMsBlock / 1000} s. **Baseline**: a bare \`ws\` WebSocketServer in a
  child process (\`bench/baseline-server.mjs\`) that parses the writer's frame,
  builds one query-response-shaped frame and sends it to every subscriber.
  The issue's metric is "time from an event's arrival to its diff leaving the
  server": these client-side figures are an **upper bound** of it, since they
  also include the writer's and the subscribers' WebSocket stacks, the
  loopback, and the bench process handling up to ${f ? f.subscribers : CFG.fanoutSubs} messages one after another
  on a machine where it shares 2 cores with the server (the last delivery of a
  round waits for the client process to get through all the earlier ones; the
  baseline pays the same). The Myko figures also include the commit (fsync,
  sqliteSync=full) that precedes every broadcast. "Server CPU ms/round" is the
  server child's CPU time (from \`/proc\`, 10 ms ticks) over the measured
  rounds, divided by the rounds.
- **snapshot**: ${s ? fmtInt(s.items) : CFG.snapshotItems} \`Item\`s preloaded in event batches, then
  \`ws:m:query GetAllItems\` with a fresh tx on one connection, timed from
  \`send\` to the arrival of the sequence-0 response (before parsing it), then
  cancelled. **Baseline**: a bare \`ws\` server sending the very bytes Myko
  sent, precomputed, on request: the cost of moving that frame alone.
`;
}

// ---------------------------------------------------------------------------

const scenarios = { ingest: scenarioIngest, fanout: scenarioFanout, snapshot: scenarioSnapshot };

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: node bench/run.mjs [${Object.keys(scenarios).join('|')}]...`);
    return 0;
  }
  const unknown = args.filter((a) => !(a in scenarios));
  if (unknown.length > 0) {
    console.error(`bench: unknown scenario ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`);
    return 2;
  }
  const chosen = args.length > 0 ? args : Object.keys(scenarios);
  if (PROF_DIR) mkdirSync(PROF_DIR, { recursive: true });
  const m = machine();
  const date = new Date().toISOString();
  console.error(`bench: ${chosen.join(', ')} on ${m.cpu} (${m.cores} cores), Node ${m.node}`);
  const t0 = performance.now();
  const res = {};
  let failed = false;
  for (const name of chosen) {
    const scope = new Scope();
    const started = performance.now();
    console.error(`bench: ${name}`);
    let timer;
    try {
      res[name] = await Promise.race([
        scenarios[name](scope),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`scenario ${name} timed out after ${CFG.timeouts[name] / 1000} s`)), CFG.timeouts[name]);
        }),
      ]);
    } catch (err) {
      failed = true;
      res[name] = { error: err.message };
      console.error(`bench: ${name} FAILED: ${err.stack ?? err.message}`);
    } finally {
      clearTimeout(timer);
      await scope.close();
    }
    console.error(`bench: ${name} took ${fmt((performance.now() - started) / 1000, 1)} s`);
  }
  const wallMs = performance.now() - t0;
  console.log('\n' + tables(res));
  const full = chosen.length === Object.keys(scenarios).length;
  const md = resultsMarkdown(res, m, date, chosen, wallMs);
  const outFile = process.env.BENCH_OUT ? path.resolve(process.env.BENCH_OUT) : full ? path.join(here, 'RESULTS.md') : path.join(here, 'results-partial.md');
  // Keep the sections other bench scripts own (<!-- section:NAME --> … <!-- /section:NAME -->, see section.mjs).
  let kept = '';
  try {
    kept = (readFileSync(outFile, 'utf8').match(/<!-- section:([\w-]+) -->[\s\S]*?<!-- \/section:\1 -->/g) ?? []).join('\n\n');
  } catch {}
  writeFileSync(outFile, kept ? md.trimEnd() + '\n\n' + kept + '\n' : md);
  if (full && !process.env.BENCH_OUT) writeFileSync(path.join(here, 'RESULTS.json'), JSON.stringify({ date, command: commandLine(), machine: m, config: CFG, results: res, serverNotes }, null, 2) + '\n');
  console.log(`bench: wrote ${path.relative(root, outFile)} (${fmt(wallMs / 1000, 1)} s)`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    killAll();
    process.exit(code);
  },
  (err) => {
    console.error(err);
    killAll();
    process.exit(1);
  },
);
