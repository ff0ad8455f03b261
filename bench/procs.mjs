// Shared by bench/connections.mjs and bench/fanout-socketio.mjs: child
// processes tracked by PID and stopped on any exit, temp dirs removed, a
// Myko server started the way bench/run.mjs starts it, and readings of a
// child's memory from /proc and through the V8 inspector.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import WebSocket from 'ws';
import { CLI, root } from './section.mjs';

const children = new Set();
const tempDirs = new Set();

export function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const log = (...a) => console.error('  ·', ...a);

/** A temp dir under `parent` (the OS's temp dir by default), removed on exit. */
export function tempDir(prefix, parent = os.tmpdir()) {
  const d = mkdtempSync(path.join(parent, prefix));
  tempDirs.add(d);
  return d;
}

/**
 * A child process. With `raiseNofile`, it runs under `sh -c 'ulimit -n HARD; exec …'`
 * so the soft fd limit is the hard one (exec keeps the PID: the one we stop).
 */
export function spawnChild(cmd, args, { env = {}, raiseNofile = false, ipc = false } = {}) {
  const quoted = [cmd, ...args].map((a) => `'${String(a).replaceAll("'", `'\\''`)}'`).join(' ');
  const [file, argv] = raiseNofile ? ['/bin/sh', ['-c', `ulimit -n "$(ulimit -Hn)"; exec ${quoted}`]] : [cmd, args];
  const child = spawn(file, argv, { stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd: root });
  children.add(child);
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 50_000) out = out.slice(-50_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code, signal) => (children.delete(child), r({ code, signal }))));
  return {
    child,
    pid: child.pid,
    exited,
    output: () => out,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** SIGTERM by PID, SIGKILL after a grace period. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {}
      }, graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Wait until `re` matches the child's output; resolves with the match. */
export async function waitOutput(proc, re, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(proc.output());
    if (m) return m;
    if (!proc.running) throw new Error(`${what} exited: ${proc.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not start: ${proc.output().slice(-2000)}`);
    await sleep(50);
  }
}

/**
 * `myko serve` as bench/run.mjs starts it (fresh data dir, sqlite-sync full, log level warn),
 * plus `extraArgs` and node flags; resolves once /health answers. `dataParent`: where the data dir is
 * made (e.g. /dev/shm, a file system without a disk under it).
 */
export async function startMyko({ extraArgs = [], nodeArgs = [], raiseNofile = false, dataParent, env = {} } = {}) {
  const dataDir = tempDir('myko-bench-', dataParent);
  const port = await freePort();
  const proc = spawnChild(
    process.execPath,
    [...nodeArgs, CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'warn', '--sqlite-sync', 'full', ...extraArgs],
    { raiseNofile, env },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(500) });
      if (r.status === 200) break;
    } catch {}
    if (!proc.running || Date.now() > deadline) {
      await proc.stop(1000);
      throw new Error(`myko server did not start: ${proc.output().slice(-2000)}`);
    }
    await sleep(50);
  }
  return {
    proc,
    port,
    url: `ws://127.0.0.1:${port}/myko`,
    async stop() {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
      tempDirs.delete(dataDir);
    },
  };
}

/** Resident set size of a process, bytes, from /proc (Linux). */
export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The soft limit of open files of a process, from /proc (Linux). */
export function nofileLimit(pid) {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : NaN;
}

/**
 * A connection to a child's V8 inspector (started with --inspect=127.0.0.1:0):
 * forces a full GC before each memory reading so heap figures compare live objects,
 * not garbage; and can take a heap snapshot.
 */
export async function inspector(proc) {
  const m = await waitOutput(proc, /Debugger listening on (ws:\/\/\S+)/, 20_000, 'inspector');
  const ws = new WebSocket(m[1], { perMessageDeflate: false, maxPayload: 2 ** 31 });
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
  let id = 0;
  const pending = new Map();
  const listeners = new Set();
  ws.on('message', (d) => {
    const msg = JSON.parse(d.toString());
    if (msg.id !== undefined && pending.has(msg.id)) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? p.rej(new Error(msg.error.message)) : p.res(msg.result);
    } else for (const l of listeners) l(msg);
  });
  const call = (method, params = {}) =>
    new Promise((res, rej) => {
      const i = ++id;
      pending.set(i, { res, rej });
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  await call('HeapProfiler.enable');
  return {
    gc: () => call('HeapProfiler.collectGarbage'),
    /** Used V8 heap after a full GC, bytes (Runtime.getHeapUsage). */
    async heapUsed() {
      await call('HeapProfiler.collectGarbage');
      return (await call('Runtime.getHeapUsage')).usedSize;
    },
    /** A heap snapshot as one JSON string (forces a GC first). */
    async snapshot() {
      const chunks = [];
      const l = (msg) => msg.method === 'HeapProfiler.addHeapSnapshotChunk' && chunks.push(msg.params.chunk);
      listeners.add(l);
      await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      listeners.delete(l);
      return chunks.join('');
    },
    close: () => ws.terminate(),
  };
}

/**
 * Aggregate a heap snapshot's self sizes by node type and constructor name:
 * [{ name, count, bytes }] sorted by bytes, largest first.
 */
export function summariseSnapshot(json) {
  const snap = JSON.parse(json);
  const meta = snap.snapshot.meta;
  const F = meta.node_fields.length;
  const iType = meta.node_fields.indexOf('type');
  const iName = meta.node_fields.indexOf('name');
  const iSize = meta.node_fields.indexOf('self_size');
  const types = meta.node_types[iType];
  const { nodes, strings } = snap;
  const by = new Map();
  for (let i = 0; i < nodes.length; i += F) {
    const type = types[nodes[i + iType]];
    let name = type === 'object' || type === 'closure' || type === 'native' ? strings[nodes[i + iName]] : `(${type})`;
    if (type === 'closure') name = `closure ${name}`;
    const e = by.get(name) ?? { name, count: 0, bytes: 0 };
    e.count++;
    e.bytes += nodes[i + iSize];
    by.set(name, e);
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes);
}
