#!/usr/bin/env node
// Runs bench/pulses.mjs and records its result as the "pulses" section of bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { machineLine, root, writeSection } from './section.mjs';

const run = spawnSync(process.execPath, [path.join(root, 'bench/pulses.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 180_000 });
process.stdout.write(run.stdout ?? '');
const last = (run.stdout ?? '').trim().split('\n').at(-1) ?? '';
let r;
try {
  r = JSON.parse(last);
} catch {
  throw new Error(`bench/pulses.mjs gave no result (exit ${run.status})`);
}
const rows = r.phases
  .map(
    (p) =>
      `| ${p.offeredTotal.toLocaleString('en')} | ${p.sentPerSec.toLocaleString('en')} | ${p.deliveredPerSec.toLocaleString('en')} | ${(p.deliveryRatio * 100).toFixed(1)}% | ${p.latencyMs.p50} / ${p.latencyMs.p99} | ${Math.round(p.serverCpu * 100)}% |`,
  )
  .join('\n');
writeSection(
  'pulses',
  `
## Pulses: ${r.config.executors} executors (${r.config.emittersPerExecutor} emitters each) → ${r.config.watchers} watchers

Machine: ${machineLine()}. Command: \`node bench/pulses.mjs\` (executors use the @myko/rship SDK; watchers hold \`${r.config.query}\`; ${r.config.phaseMs / 1000} s per phase).

| offered pulses/s | sent/s | delivered/s (all watchers) | delivered | latency p50 / p99 ms (pulse timestamp → watcher) | server CPU (one core) |
| ---: | ---: | ---: | ---: | ---: | ---: |
${rows}

Past what a watcher can read, the server sends it only the newest value per emitter (coalescing), so delivery drops below 100% while latency stays bounded. For comparison, the fanout scenario above measures the same path against a bare \`ws\` broadcast.
`,
);
