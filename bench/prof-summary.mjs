#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `BENCH_CPU_PROF=DIR node bench/run.mjs ...`):
// self time by function and by file, and inclusive time of the top functions.
//
//   node bench/prof-summary.mjs FILE.cpuprofile [top=25]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/prof-summary.mjs FILE.cpuprofile [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample weights: timeDeltas[i] is the time before samples[i].
const self = new Map();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
  total += dt;
}
const short = (url) => url.replace(/^file:\/\//, '').replace(/^.*\/(packages|node_modules)\//, '$1/');
const label = (n) => {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${f.url ? short(f.url) + ':' + (f.lineNumber + 1) : ''}`.trim();
};

const byFn = new Map();
const byFile = new Map();
const incl = new Map();
for (const [id, t] of self) {
  const n = nodes.get(id);
  const l = label(n);
  byFn.set(l, (byFn.get(l) ?? 0) + t);
  const file = n.callFrame.url ? short(n.callFrame.url) : `(${n.callFrame.functionName || 'native'})`;
  byFile.set(file, (byFile.get(file) ?? 0) + t);
  // Inclusive: count once per distinct label on the stack.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const lc = label(nodes.get(cur));
    if (seen.has(lc)) continue;
    seen.add(lc);
    incl.set(lc, (incl.get(lc) ?? 0) + t);
  }
}
const ms = (us) => (us / 1000).toFixed(1).padStart(9);
const share = (us) => ((100 * us) / total).toFixed(1).padStart(5) + '%';
const print = (title, m) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(v)} ms ${share(v)}  ${k}`);
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
print('self time by function', byFn);
print('self time by file', byFile);
print('inclusive time by function', incl);
