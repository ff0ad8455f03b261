#!/usr/bin/env node
// Pulses: executors → server → watchers, through a real server child process.
//
//   npx tsc -b && node bench/pulses.mjs
//
// 10 executors (the @myko/rship executor SDK, in one child process; 10
// emitters each) pulse at a fixed offered rate; 100 watchers (raw `ws`
// sockets in child processes, each with a live GetAllPulses query) count what
// arrives. Phases of rising offered rate; per phase: pulses sent/s, pulse
// values delivered/s over all watchers, the share of (sent × watchers) that
// arrived (the server conflates a burst on one Pulse id into its newest value,
// so under load watchers get fewer, newer values: that is by design), and the
// latency from the executor's `pulse()` to the watcher's parsed frame (p50,
// p99, max, from a 0.05 ms histogram; both clocks are this machine's). Server
// CPU from /proc. Prints a table; the last line of stdout is the JSON result.
//
// Knobs (environment):
//   BENCH_PULSE_EXECUTORS (10), BENCH_PULSE_EMITTERS (10 per executor), BENCH_PULSE_WATCHERS (100)
//   BENCH_PULSE_WATCHER_PROCS (2), BENCH_PULSE_RATES (10,50,200,500: pulses/s per executor, one phase each)
//   BENCH_PULSE_PHASE_MS (6000), BENCH_PULSE_TIMEOUT_MS (58000: everything is killed past it)
//   BENCH_SERVER_CLI=PATH  another build's cli.js
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { envInt } from './section.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const now = () => performance.timeOrigin + performance.now();


// Latency histogram: 0.05 ms buckets up to 5 s, then one overflow bucket.
const BUCKET_MS = 0.05;
const BUCKETS = 100_000;
const bucketOf = (ms) => Math.min(BUCKETS, Math.max(0, Math.floor(ms / BUCKET_MS)));

const role = process.argv[2];
if (role === '--executors') await executors();
else if (role === '--watchers') await watchers();
else await main();

// ---------------------------------------------------------------------------
// Executors: N SDK sessions in this process, pulsing at the offered rate.

async function executors() {
  const { connect } = await import('@myko/rship/node');
  const [url, n, perExec] = [process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
  const sessions = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ url, reconnect: false });
    s.onError((e) => process.send({ type: 'error', message: `executor ${i}: ${e.message}` }));
    const inst = s.addInstance({ id: `bench-exec-${i}`, name: `Bench executor ${i}`, serviceId: 'bench', serviceTypeCode: 'bench' });
    const t = inst.addTarget({ id: `bench-target-${i}`, name: `Target ${i}`, bgColor: '#000000', fgColor: '#ffffff' });
    t.addAction('noop', { type: 'object' }, () => null);
    const emitters = [];
    for (let j = 0; j < perExec; j++) emitters.push(t.addEmitter({ id: `bench-${i}-e${j}`, name: `e${j}` }, { type: 'object' }));
    sessions.push({ s, emitters, next: 0 });
  }
  await Promise.all(sessions.map((x) => x.s.registered()));
  process.send({ type: 'ready' });
  process.on('message', async (m) => {
    if (m.type === 'phase') {
      // Open loop: every ~2 ms, each executor sends what is due by now at `rate`.
      const { phase, rate, ms } = m;
      let seq = 0;
      let sent = 0;
      const t0 = performance.now();
      await new Promise((resolve) => {
        const tick = () => {
          const elapsed = performance.now() - t0;
          const due = Math.floor((Math.min(elapsed, ms) * rate) / 1000);
          for (const x of sessions) {
            for (let k = x.sent ?? 0; k < due; k++) {
              const e = x.emitters[x.next++ % x.emitters.length];
              if (e.pulse({ ph: phase, seq: seq++, t: now() })) sent++;
            }
            x.sent = due;
          }
          if (elapsed >= ms) resolve();
          else setTimeout(tick, 2);
        };
        for (const x of sessions) x.sent = 0;
        tick();
      });
      process.send({ type: 'sent', phase, sent, ms: performance.now() - t0 });
    } else if (m.type === 'close') {
      await Promise.all(sessions.map((x) => x.s.close()));
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------
// Watchers: raw sockets, each with a live GetAllPulses query.

async function watchers() {
  const { default: WebSocket } = await import('ws');
  const [url, n] = [process.argv[3], Number(process.argv[4])];
  /** phase → {count, hist} */
  const stats = new Map();
  const statsOf = (ph) => {
    let s = stats.get(ph);
    if (!s) stats.set(ph, (s = { count: 0, hist: new Uint32Array(BUCKETS + 1) }));
    return s;
  };
  const record = (data, at) => {
    for (const u of data.upserts) {
      const d = u.item.data;
      if (!d || typeof d.t !== 'number') continue;
      const s = statsOf(d.ph);
      s.count++;
      s.hist[bucketOf(at - d.t)]++;
    }
  };
  const sockets = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        sockets.push(ws);
        let first = true;
        ws.on('error', reject);
        ws.on('open', () => ws.send(JSON.stringify({ event: 'ws:m:query', data: { queryId: 'GetAllPulses', queryItemType: 'Pulse', query: { tx: `w${i}` } } })));
        ws.on('message', (raw) => {
          const at = now();
          const f = JSON.parse(raw.toString());
          if (f.event !== 'ws:m:query-response') return;
          if (first) {
            first = false; // the snapshot: values from before we watched
            resolve();
            return;
          }
          record(f.data, at);
        });
      }),
    ),
  );
  process.send({ type: 'ready' });
  process.on('message', (m) => {
    if (m.type === 'collect') {
      const s = statsOf(m.phase);
      // Sparse histogram: [bucket, count] pairs.
      const hist = [];
      for (let b = 0; b <= BUCKETS; b++) if (s.hist[b] !== 0) hist.push([b, s.hist[b]]);
      process.send({ type: 'stats', phase: m.phase, count: s.count, hist });
      stats.delete(m.phase);
    } else if (m.type === 'close') {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------
// The run.

async function main() {
  const CFG = {
    executors: envInt('BENCH_PULSE_EXECUTORS', 10),
    emitters: envInt('BENCH_PULSE_EMITTERS', 10),
    watchers: envInt('BENCH_PULSE_WATCHERS', 100),
    watcherProcs: envInt('BENCH_PULSE_WATCHER_PROCS', 2),
    rates: (process.env.BENCH_PULSE_RATES ?? '10,50,200,500').split(',').map((x) => {
      const v = Number(x);
      if (!(v > 0)) throw new Error('BENCH_PULSE_RATES: comma-separated positive numbers');
      return v;
    }),
    phaseMs: envInt('BENCH_PULSE_PHASE_MS', 6000),
    warmupMs: 1000,
    drainMs: 1500,
    timeoutMs: envInt('BENCH_PULSE_TIMEOUT_MS', 58_000),
  };
  const cliOverride = process.env.BENCH_SERVER_CLI ? path.resolve(process.env.BENCH_SERVER_CLI) : undefined;
  const { spawnServer, exited } = await import(path.join(root, 'packages/server/dist/testing/index.js'));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'myko-bench-pulses-'));
  const children = new Set();
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  const hardStop = setTimeout(() => {
    console.error(`pulses bench: over the ${CFG.timeoutMs} ms limit, stopping`);
    process.exit(2);
  }, CFG.timeoutMs);
  hardStop.unref();

  const started = Date.now();
  const server = cliOverride
    ? await spawnCli(cliOverride, dataDir, children)
    : await spawnServer({ dataDir, env: { MYKO_LOG_LEVEL: 'info' } });
  children.add(server.proc);
  const notes = [];
  server.proc.stderr?.on('data', (d) => notes.push(d.toString().trim()));

  const child = (args) => {
    const c = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(c);
    c.on('message', (m) => m.type === 'error' && notes.push(m.message));
    return c;
  };
  const once = (c, pred) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (!pred(m)) return;
        c.off('message', on);
        resolve(m);
      };
      c.on('message', on);
      c.once('exit', (code) => reject(new Error(`a bench child exited with ${code}`)));
    });

  const per = Math.ceil(CFG.watchers / CFG.watcherProcs);
  const watcherProcs = [];
  for (let left = CFG.watchers; left > 0; left -= per) watcherProcs.push(child(['--watchers', server.url, String(Math.min(per, left))]));
  await Promise.all(watcherProcs.map((c) => once(c, (m) => m.type === 'ready')));
  const exec = child(['--executors', server.url, String(CFG.executors), String(CFG.emitters)]);
  await once(exec, (m) => m.type === 'ready');

  const cpu = (pid = server.proc.pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100/s) → s
    } catch {
      return NaN;
    }
  };

  const phases = [];
  let phaseNo = 0;
  for (const rate of CFG.rates) {
    // Warm-up at this rate (its pulses carry another phase tag and are not counted), then the measured phase.
    const warm = `w${phaseNo}`;
    exec.send({ type: 'phase', phase: warm, rate, ms: CFG.warmupMs });
    await once(exec, (m) => m.type === 'sent' && m.phase === warm);
    const phase = `p${phaseNo++}`;
    const clientCpu = () => cpu(exec.pid) + watcherProcs.reduce((a, c) => a + cpu(c.pid), 0);
    const [cpu0, client0] = [cpu(), clientCpu()];
    exec.send({ type: 'phase', phase, rate, ms: CFG.phaseMs });
    const sent = await once(exec, (m) => m.type === 'sent' && m.phase === phase);
    const [cpu1, client1] = [cpu(), clientCpu()];
    await new Promise((r) => setTimeout(r, CFG.drainMs));
    const stats = await Promise.all(
      watcherProcs.map((c) => {
        const p = once(c, (m) => m.type === 'stats' && m.phase === phase);
        c.send({ type: 'collect', phase });
        return p;
      }),
    );
    const hist = new Map();
    let received = 0;
    for (const s of stats) {
      received += s.count;
      for (const [b, n] of s.hist) hist.set(b, (hist.get(b) ?? 0) + n);
    }
    const seconds = sent.ms / 1000;
    phases.push({
      offeredPerExecutor: rate,
      offeredTotal: rate * CFG.executors,
      sentPerSec: round(sent.sent / seconds),
      deliveredPerSec: round(received / seconds),
      deliveredPerWatcherPerSec: round(received / seconds / CFG.watchers),
      deliveryRatio: round(received / Math.max(1, sent.sent * CFG.watchers), 3),
      latencyMs: { p50: pct(hist, 0.5), p99: pct(hist, 0.99), max: pct(hist, 1) },
      serverCpu: round((cpu1 - cpu0) / seconds, 2),
      executorAndWatcherCpu: round((client1 - client0) / seconds, 2),
    });
  }

  exec.send({ type: 'close' });
  await Promise.race([exited(exec), new Promise((r) => setTimeout(r, 3000))]);
  for (const c of watcherProcs) c.send({ type: 'close' });
  server.proc.kill('SIGTERM');
  await Promise.race([exited(server.proc), new Promise((r) => setTimeout(r, 3000))]);

  const result = {
    bench: 'pulses',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    config: { executors: CFG.executors, emittersPerExecutor: CFG.emitters, watchers: CFG.watchers, watcherProcs: CFG.watcherProcs, phaseMs: CFG.phaseMs, query: 'GetAllPulses' },
    phases,
    wallMs: Date.now() - started,
    ...(notes.length ? { notes: notes.slice(0, 10) } : {}),
  };
  printTable(result);
  console.log(JSON.stringify(result));
  clearTimeout(hardStop);
  process.exit(0);
}

async function spawnCli(cli, dataDir, children) {
  const { spawn } = await import('node:child_process');
  const proc = spawn(process.execPath, [cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    env: { ...process.env, MYKO_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  const port = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /"url":"ws:\/\/[^:]+:(\d+)\/myko"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { proc, port, url: `ws://127.0.0.1:${port}/myko` };
}

function pct(hist, q) {
  let total = 0;
  for (const n of hist.values()) total += n;
  if (total === 0) return null;
  const want = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (const b of [...hist.keys()].sort((a, b) => a - b)) {
    seen += hist.get(b);
    if (seen >= want) return b >= BUCKETS ? Infinity : round((b + 1) * BUCKET_MS, 2);
  }
  return null;
}

function round(x, digits = 0) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function printTable(r) {
  const c = r.config;
  console.log(
    `\npulses: ${c.executors} executors (SDK, ${c.emittersPerExecutor} emitters each) → server → ${c.watchers} watchers (${c.query}), ${c.phaseMs / 1000} s per phase, ${r.machine.cpus} CPUs shared by all\n`,
  );
  const head = ['offered/s', 'sent/s', 'delivered/s', 'per watcher/s', 'delivered share', 'p50 ms', 'p99 ms', 'max ms', 'server CPU', 'clients CPU'];
  const rows = r.phases.map((p) => [
    p.offeredTotal,
    p.sentPerSec,
    p.deliveredPerSec,
    p.deliveredPerWatcherPerSec,
    `${Math.round(p.deliveryRatio * 1000) / 10}%`,
    p.latencyMs.p50,
    p.latencyMs.p99,
    p.latencyMs.max,
    `${Math.round(p.serverCpu * 100)}%`,
    `${Math.round(p.executorAndWatcherCpu * 100)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => '| ' + cells.map((x, i) => String(x).padStart(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of rows) console.log(line(row));
  console.log(
    `\nCPU: share of one core (server: the Myko child; clients: the executor and watcher processes). delivered share: values received / (sent × watchers);\n` +
      `under load the server sends a congested watcher only the newest value of each Pulse id. (wall ${Math.round(r.wallMs / 100) / 10} s)`,
  );
}
