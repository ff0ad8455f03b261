#!/usr/bin/env node
// Where a whole process's CPU went, by kind of code: a `perf` profile (kernel, native code and
// JavaScript together, every thread) summed by the function each sample was in. V8's own profiles
// (BENCH_CPU_PROF, prof-summary.mjs) see one thread's JavaScript and charge a native call's time to
// its caller; this sees the collector's threads, the store thread, SQLite and the kernel as well.
//
//   node --perf-basic-prof-only-functions packages/server/dist/cli.js serve …   (JavaScript names)
//   perf record -F 2999 -g -p PID -o perf.data -- sleep 10
//   perf script -i perf.data -F tid,ip,sym,dso -G | node bench/perf-categories.mjs [--threads]
//
// `-G` leaves out the call chains: each sample is counted once, in the function it was in.
// --threads adds each thread's share (by thread id).
import { createInterface } from 'node:readline';

/** First match wins; a sample matching none is "other native". */
const CATEGORIES = [
  ['kernel (syscalls, network, page faults, disk)', (sym, dso) => dso.includes('[kernel')],
  ['SQLite (better-sqlite3)', (sym, dso) => dso.includes('better_sqlite3')],
  ['SHA-256 (OpenSSL)', (sym) => /sha256/i.test(sym)],
  ['V8 garbage collector', (sym) => /Scaveng|Mark(?:ing|Compact|Bit)|Sweep|Heap::|GarbageCollect|Evacuat|Remembered|SlotSet|MemoryChunk|PostGarbageCollection|Compactor|ConcurrentMarking|Minor|LocalHeap|Collector/.test(sym)],
  ['V8 JSON.parse', (sym) => sym.includes('JsonParser')],
  ['V8 JSON.stringify', (sym) => sym.includes('JsonStringifier')],
  ['V8 strings (flatten, UTF-8, internalize, concatenate)', (sym) => /String|Utf8|Internaliz|Flatten|StringTable/.test(sym) && !sym.startsWith('Builtins_')],
  ['structured clone (messages between threads)', (sym) => /ValueSerializer|ValueDeserializer|MessagePort|worker::Message/.test(sym)],
  ['libc (memmove, malloc, …)', (sym, dso) => dso.includes('libc')],
  ['JavaScript (JIT code and V8 builtins)', (sym, dso) => sym.startsWith('JS:') || sym.startsWith('Builtins_') || dso.includes('[JIT]') || /Runtime_|IC::|LookupIterator|Object::/.test(sym)],
];
const OTHER = 'other native (Node, V8 runtime, libuv, compiler)';

const byCategory = new Map();
const byThread = new Map();
let total = 0;
// A line: "  TID  ADDRESS SYMBOL (DSO)"; the symbol may hold spaces and parentheses.
const line = /^\s*(\d+)\s+[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$/;
for await (const text of createInterface({ input: process.stdin })) {
  const m = line.exec(text);
  if (!m) continue;
  const [, tid, sym, dso] = m;
  total++;
  const category = CATEGORIES.find(([, test]) => test(sym, dso))?.[0] ?? OTHER;
  byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
  byThread.set(tid, (byThread.get(tid) ?? 0) + 1);
}
if (total === 0) {
  console.error('no samples read: pipe `perf script -F tid,ip,sym,dso -G` into this');
  process.exit(1);
}
const pct = (n) => `${((100 * n) / total).toFixed(1)}%`.padStart(6);
for (const [name, n] of [...byCategory].sort((a, b) => b[1] - a[1])) console.log(`${pct(n)}  ${name}`);
console.log(`${total} samples`);
if (process.argv.includes('--threads')) {
  console.log('\nby thread id:');
  for (const [tid, n] of [...byThread].sort((a, b) => b[1] - a[1])) console.log(`${pct(n)}  ${tid}`);
}
