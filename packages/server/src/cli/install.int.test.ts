import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cleanEnv, repoRoot } from './harness.js';

test('every dependency install script is approved or denied in package.json allowScripts: `npm install` prints no install-scripts warning', (t) => {
  // npm 11's review of install scripts: the same check `npm install` warns from.
  const r = spawnSync('npm', ['install-scripts', 'ls'], { cwd: repoRoot, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 });
  if (/Unknown command|not a valid npm command/i.test(r.stdout + r.stderr)) return t.skip(`npm ${spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim()} has no install-scripts review`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /No packages with unreviewed install scripts/, r.stdout + r.stderr);
});
