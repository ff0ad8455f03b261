import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sleep, TestClient } from '../testing/index.js';
import { SilentProxy } from '../fault/silent-proxy.js';
import { ConfigError, defaultConfig, resolveConfig } from '../config.js';
import { spawnSync } from 'node:child_process';
import { cliPath } from '../fault/support.js';

/** Polls `cond` every 10 ms; the elapsed ms once it holds, or throws after `ms`. */
async function within(ms: number, cond: () => boolean, what: string): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
  return performance.now() - t0;
}

test('the heartbeat closes a connection whose network died silently (no FIN, no RST), and only that one', async () => {
  const ts = await startTestServer({ config: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1000, ownerChallengeMs: 100 } });
  const proxy = await SilentProxy.start({ host: '127.0.0.1', port: ts.server.port });
  try {
    const doomed = await TestClient.connect(proxy.url());
    const idle = await TestClient.connect(ts.url); // answers pings (ws does by itself) but sends no frame
    await doomed.sync();
    const id = doomed.clientId!;
    // The Client item is written on connect without the connection waiting for it.
    await within(2000, () => ts.server.state.get('Client', id) !== undefined, 'the Client item is committed');

    proxy.silence();
    const ms = await within(5000, () => !ts.server.connections.has(id), 'the silent connection is closed');
    // Its last pong came at most one interval before the silence: closed no sooner than timeout - interval.
    assert.ok(ms >= 800, `closed after ${ms.toFixed(0)} ms: before the timeout`);
    await within(1000, () => ts.server.state.get('Client', id) === undefined, 'its Client item is deleted');

    await sleep(1500);
    assert.ok(ts.server.connections.has(idle.clientId!), 'a quiet connection that answers pings stays');
    await idle.sync();
    await idle.close();
    doomed.ws.terminate();
  } finally {
    await proxy.close();
    await ts.close();
  }
});

test('heartbeat settings: defaults close a dead connection within 30 s; contradictory values are refused at start', () => {
  assert.ok(defaultConfig.heartbeatIntervalMs + defaultConfig.heartbeatTimeoutMs <= 30_000);
  assert.ok(defaultConfig.ownerChallengeMs <= 3_000);
  const env = resolveConfig({}, { MYKO_HEARTBEAT_INTERVAL_MS: '1000', MYKO_HEARTBEAT_TIMEOUT_MS: '3000', MYKO_OWNER_CHALLENGE_MS: '500' });
  assert.deepEqual([env.heartbeatIntervalMs, env.heartbeatTimeoutMs, env.ownerChallengeMs], [1000, 3000, 500]);
  assert.throws(() => resolveConfig({ heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 5000 }), ConfigError);
  assert.throws(() => resolveConfig({ heartbeatTimeoutMs: 2000, ownerChallengeMs: 2000 }), ConfigError);
  assert.equal(resolveConfig({ heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1 }).heartbeatIntervalMs, 0, '0 turns the heartbeat off');
});

test('the CLI takes the settings as flags and refuses contradictory ones before serving', () => {
  const r = spawnSync(process.execPath, [cliPath, 'serve', '--heartbeat-interval-ms', '5000', '--heartbeat-timeout-ms', '4000', '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--heartbeat-timeout-ms \/ MYKO_HEARTBEAT_TIMEOUT_MS \(4000\) must be above --heartbeat-interval-ms \/ MYKO_HEARTBEAT_INTERVAL_MS \(5000\)/);
  const help = spawnSync(process.execPath, [cliPath, '--help'], { encoding: 'utf8' }).stdout;
  for (const flag of ['--heartbeat-interval-ms', '--heartbeat-timeout-ms', '--owner-challenge-ms']) assert.ok(help.includes(flag), flag);
});
