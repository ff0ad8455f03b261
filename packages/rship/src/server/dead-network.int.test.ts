import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, SilentProxy, TestClient, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';
import { batchTouchDesigner, executor2023, executorTouchDesigner, frames2023 } from './executor-replays.js';

/**
 * WIRE.md 6.7: the network between the server and an executor dies without a
 * FIN or RST (simulated by SilentProxy); the executor reconnects on a new
 * socket and registers once, while the server still holds the old socket.
 * The owner challenge (gateway/owner-challenge.ts) must let that one
 * registration take effect; a live owner keeps its items.
 */
// Long enough for a live owner on a loaded machine to answer its ping; short enough to keep the tests quick.
const challengeMs = 800;
let ts: TestServer;
before(async () => {
  // A slow heartbeat, so that only the challenge can retire the old socket within these tests.
  ts = await startTestServer({ plugins: [rshipPlugin()], config: { ownerChallengeMs: challengeMs, heartbeatIntervalMs: 10_000, heartbeatTimeoutMs: 30_000 } });
});
after(async () => {
  await ts.close();
});

const exec = (tx: string, actionId: string) => ({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx, action: { id: actionId }, data: { go: tx } } } });

test('a current executor re-registers on a new socket while its old one is silent: one registration takes effect within the challenge time, actions go to the new socket', async () => {
  const proxy = await SilentProxy.start({ host: '127.0.0.1', port: ts.server.port });
  try {
    const old = await executorTouchDesigner(proxy.url(), 'dn1-', { accepted: true });
    await old.client.sync();
    const oldId = old.client.clientId!;
    assert.equal(ts.server.state.get('Instance', 'dn1-td-inst')?.clientId, oldId);
    const watcher = await TestClient.connect(ts.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllTargetStatuss', queryItemType: 'TargetStatus', query: { tx: 'w' } } });
    await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'w');

    proxy.silence();
    const t0 = performance.now();
    const fresh = await executorTouchDesigner(ts.url, 'dn1-', { accepted: true });
    // Sent right behind the registration: answered only once the held registration is committed (read-your-writes).
    fresh.client.send({ event: 'ws:m:query', data: { queryId: 'GetTargetStatussByQuery', queryItemType: 'TargetStatus', query: { tx: 'q', instanceId: 'dn1-td-inst' } } });
    const q = await fresh.client.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'q', 5000);
    const ms = performance.now() - t0;
    const freshId = fresh.client.clientId!;
    assert.deepEqual(
      q.data.upserts.map((u: any) => [u.item.status, u.item.clientId]),
      [['online', freshId]],
      'the first answer after the registration already shows it',
    );
    assert.ok(ms < challengeMs + 1000, `took ${ms.toFixed(0)} ms`);
    assert.deepEqual(fresh.client.all('ws:m:error'), [], 'nothing was refused');
    assert.equal(ts.server.state.get('Instance', 'dn1-td-inst')?.clientId, freshId);
    assert.equal(ts.server.state.get('Client', oldId), undefined, 'the old connection is retired');
    assert.ok(!ts.server.connections.has(oldId));

    const ctl = await TestClient.connect(ts.url);
    ctl.send(exec('dn1', 'dn1-td-op:go'));
    await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'dn1');
    assert.deepEqual(fresh.ran.map((r) => r.data), [{ go: 'dn1' }], 'the action ran on the new socket');
    assert.deepEqual(old.ran, []);

    // The watcher saw offline (the retirement) then online (the new registration), never offline last.
    await watcher.sync();
    const id = 'dn1-td-inst:dn1-td-op';
    const seen = watcher.all('ws:m:query-response', 'w').flatMap((f) => f.data.upserts.filter((u: any) => u.item.id === id).map((u: any) => u.item.status));
    assert.equal(seen.at(-1), 'online', JSON.stringify(seen));
    assert.equal(ts.server.state.get('TargetStatus', id)?.status, 'online');
    old.client.ws.terminate();
    await Promise.all([fresh.client.close(), ctl.close(), watcher.close()]);
  } finally {
    await proxy.close();
  }
});

test('the 2023 executor, item by item: its first registration after the network comes back takes effect, and its actions reach the new socket', async () => {
  const proxy = await SilentProxy.start({ host: '127.0.0.1', port: ts.server.port });
  try {
    const old = await executor2023(proxy.url(), 'dn2-');
    await old.client.sync();
    proxy.silence();
    const t0 = performance.now();
    const fresh = await executor2023(ts.url, 'dn2-');
    const freshId = fresh.client.clientId!;
    // Its last frame is the TargetStatus: a ping after it returns once everything before it is handled.
    await fresh.client.sync();
    const ms = performance.now() - t0;
    assert.deepEqual(fresh.client.all('ws:m:error'), []);
    assert.ok(ms < challengeMs + 1000, `took ${ms.toFixed(0)} ms`);
    assert.equal(ts.server.state.get('Instance', 'dn2-host:coco')?.clientId, freshId);
    assert.deepEqual([ts.server.state.get('TargetStatus', 'dn2-root:status')?.status, ts.server.state.get('TargetStatus', 'dn2-root:status')?.clientId], ['online', freshId]);

    const ctl = await TestClient.connect(ts.url);
    ctl.send(exec('dn2', 'dn2-root:flash'));
    const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'dn2');
    assert.deepEqual(r.data.response, { delivered: true, answered: false, executor: '2023' });
    await fresh.client.sync();
    assert.deepEqual(fresh.ran, [{ actionId: 'dn2-root:flash', data: { go: 'dn2' } }]);
    assert.deepEqual(old.ran, []);
    old.client.ws.terminate();
    await Promise.all([fresh.client.close(), ctl.close()]);
  } finally {
    await proxy.close();
  }
});

test('a live owner that answers the challenge keeps its items: the newcomer is refused with MYKO_FORBIDDEN, as before', async () => {
  const owner = await executorTouchDesigner(ts.url, 'dn3-', { accepted: true });
  await owner.client.sync();
  const ownerId = owner.client.clientId!;
  const intruder = await TestClient.connect(ts.url);
  intruder.send(batchTouchDesigner('dn3-', { accepted: true }));
  const e = await intruder.next((f) => f.event === 'ws:m:error', 3000);
  assert.equal(e.data.code, 'MYKO_FORBIDDEN');
  assert.match(e.data.message, new RegExp(ownerId));
  assert.ok(ts.server.connections.has(ownerId), 'the owner is still connected');
  assert.equal(ts.server.state.get('Instance', 'dn3-td-inst')?.clientId, ownerId);
  assert.equal(ts.server.state.get('TargetStatus', 'dn3-td-inst:dn3-td-op')?.clientId, ownerId);

  // The 2023 form too, and right after the first refusal: refused at once, without another ping.
  const late = await executor2023(ts.url, 'x-', { register: false });
  for (const frame of frames2023('x-', late.client.clientId!)) late.client.send(frame);
  late.client.send({ event: 'ws:m:event', data: { changeType: 'SET', itemType: 'Instance', item: { id: 'dn3-td-inst', name: 'steal', serviceId: 's', serviceTypeCode: 'x' } } });
  const e2 = await late.client.next((f) => f.event === 'ws:m:error', 3000);
  assert.equal(e2.data.code, 'MYKO_FORBIDDEN');
  assert.ok(ts.server.connections.has(ownerId));
  await Promise.all([owner.client.close(), intruder.close(), late.client.close()]);
});

test('a newcomer that disconnects while its registration is held leaves nothing online in its name', async () => {
  const proxy = await SilentProxy.start({ host: '127.0.0.1', port: ts.server.port });
  try {
    const old = await executorTouchDesigner(proxy.url(), 'dn4-', { accepted: true });
    await old.client.sync();
    proxy.silence();
    const gone = await TestClient.connect(ts.url);
    gone.send(batchTouchDesigner('dn4-', { accepted: true }));
    await new Promise((r) => setTimeout(r, 50)); // the registration is held: the old owner is being challenged
    gone.ws.terminate();
    await new Promise((r) => setTimeout(r, challengeMs + 500));
    const status = ts.server.state.get('TargetStatus', 'dn4-td-inst:dn4-td-op');
    assert.equal(status?.status, 'offline', 'the old socket was retired; the closed newcomer did not set it online');
    assert.notEqual(status?.clientId, gone.clientId);
    assert.equal(ts.server.state.get('Instance', 'dn4-td-inst')?.status, 'Unavailable');
    old.client.ws.terminate();
  } finally {
    await proxy.close();
  }
});
