/**
 * The test output is for results: a library's chatter (@rise-tools/ws-client
 * logs `client unsub KEY` on every unsubscribe) must not show up as stray lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('the ws-client tests print nothing but their results (no `client unsub` lines)', () => {
  const file = fileURLToPath(new URL('./ws-client.int.test.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 120_000, env: withoutTestContext() });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const stray = (r.stdout + r.stderr).split('\n').filter((l) => /client unsub/.test(l));
  assert.deepEqual(stray, []);
});

/** Our environment without the runner's NODE_TEST_CONTEXT, which would make the child report to us instead of running as its own run. */
function withoutTestContext(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
