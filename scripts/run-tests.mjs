#!/usr/bin/env node
// Runs every compiled test file (`*.test.js` under packages/*/dist and apps/*/dist)
// with Node's own test runner. Usage: node scripts/run-tests.mjs [filter-substring...]
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['packages', 'apps', 'examples'].filter((r) => existsSync(r));
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && p.includes(`${'/'}dist${'/'}`)) files.push(p);
  }
};
for (const r of roots) walk(r);
const filters = process.argv.slice(2);
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const res = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...selected], { stdio: 'inherit' });
process.exit(res.status ?? 1);
