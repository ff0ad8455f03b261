// Shared by the bench scripts: write one marked section of
// bench/RESULTS.md (replacing an earlier one), describe the machine, the
// latency scripts' percentiles, and a Myko server's /metrics histograms.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, execFileSync } from 'node:child_process';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The server under test: this checkout's build, or another's (BENCH_SERVER_CLI, for A/B runs). */
export const CLI = process.env.BENCH_SERVER_CLI ? path.resolve(process.env.BENCH_SERVER_CLI) : path.join(root, 'packages/server/dist/cli.js');

/** A positive integer knob from the environment (BENCH_*), or its default when unset or empty. */
export const envInt = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
};

export function writeSection(name, markdown) {
  const file = path.join(root, 'bench/RESULTS.md');
  const start = `<!-- section:${name} -->`;
  const end = `<!-- /section:${name} -->`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : text.trimEnd() + '\n\n' + block + '\n';
  writeFileSync(file, text);
}

export function machineLine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const [l1, l5] = os.loadavg();
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${new Date().toISOString()}, load ${l1.toFixed(2)}/${l5.toFixed(2)}`;
}

/** Numbers in ascending order, as a new array. */
export const sortNum = (a) => [...a].sort((x, y) => x - y);
/** The p-th percentile of an ascending array, nearest rank (the latency scripts: run.mjs, fanout-socketio.mjs, single-set.mjs). */
export const pctSorted = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]);
/** CPU time (user + system, ms) this process has used so far, every thread of it. */
export const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

let clkTck;
/**
 * CPU time (user + system, ms) a child process has used so far, from /proc
 * (Linux; undefined elsewhere). Less sensitive to other load on the machine
 * than wall-clock rates: the cost per event, not the share of the CPU it got.
 */
export function procCpuMs(pid, thread) {
  try {
    clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    // With `thread`, one thread's time: the event loop is the thread whose id is the process id.
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / clkTck) * 1000; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** A number with `d` decimals, or what it is when not finite. */
export const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : String(n));

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Start `myko serve` as a child; resolves with the port and the 'state loaded' boot stats once it listens. */
export function startServer(args, env = {}) {
  const t0 = performance.now();
  // BENCH_SERVER_NODE_ARGS: Node flags for the server processes (e.g. --cpu-prof --cpu-prof-dir=DIR), as in bench/run.mjs.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--plugins', '', ...args], {
    env: { ...process.env, MYKO_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out.slice(-2000)}`)), 300_000);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /"url":"ws:\/\/[^:]+:(\d+)\/myko"/.exec(out);
      if (m) {
        clearTimeout(timer);
        const boot = JSON.parse(out.split('\n').find((l) => l.includes('"state loaded"')) ?? '{}');
        resolve({ proc, port: Number(m[1]), url: `ws://127.0.0.1:${m[1]}/myko`, readyMs: performance.now() - t0, boot });
      }
    });
    proc.stderr.on('data', (d) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`server exited ${code}: ${out.slice(-2000)}`)));
  });
}

export function stopServer(s) {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve();
    s.proc.once('exit', () => resolve());
    s.proc.kill('SIGTERM');
  });
}

/** A histogram of a Myko server's /metrics (the server at `wsUrl`): bucket bounds (ms) with their counts, sum (ms) and count. */
export async function scrapeHistogram(wsUrl, name) {
  const port = new URL(wsUrl).port;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let m;
    if ((m = /^_bucket\{le="([^"]+)"\} (\S+)$/.exec(rest))) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]) * 1000, Number(m[2])]);
    else if ((m = /^_sum (\S+)$/.exec(rest))) sum = Number(m[1]) * 1000;
    else if ((m = /^_count (\S+)$/.exec(rest))) count = Number(m[1]);
  }
  return { buckets, sum, count };
}

/** Accepted → diffs written (myko_event_to_diff_seconds), and of it the store's append (myko_store_append_seconds: the thread hop and the commit). */
export async function scrapeEventToDiff(wsUrl) {
  return { toDiff: await scrapeHistogram(wsUrl, 'myko_event_to_diff_seconds'), append: await scrapeHistogram(wsUrl, 'myko_store_append_seconds') };
}
