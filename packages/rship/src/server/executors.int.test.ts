import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestServer, TestClient, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';
import { executor2023, executorTouchDesigner } from './executor-replays.js';

/**
 * WIRE.md 6.7: the executors in the field, replayed frame by frame
 * (executor-replays.ts). No URL flag anywhere: the server tells them apart.
 */
let ts: TestServer;
before(async () => {
  // The default action timeout (10 s): a 2023 executor must not make a controller wait for it.
  ts = await startTestServer({ plugins: [rshipPlugin()] });
});
after(async () => {
  await ts.close();
});

const exec = (tx: string, actionId: string, data: unknown) => ({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx, action: { id: actionId }, data } } });

test('the 2023 executor, with no URL flag, is recognised: it gets target:action:exec (never ExecTargetAction), runs it, and the controller hears "delivered" in under a second', async () => {
  const ex = await executor2023(ts.url, 'y-');
  await ex.client.sync();
  const client = ts.server.state.get('Client', ex.client.clientId!);
  assert.equal(client?.dialect, 'seed');
  assert.equal(client?.executor, '2023', 'the Client item says it is a 2023 executor');
  assert.equal(ts.server.state.get('TargetStatus', 'y-root:status')?.status, 'online');

  const ctl = await TestClient.connect(ts.url);
  const t0 = performance.now();
  ctl.send(exec('y1', 'y-root:flash', { level: 7 }));
  const r = await ctl.next((f) => f.data?.tx === 'y1' && (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error'), 5000);
  const ms = performance.now() - t0;
  assert.equal(r.event, 'ws:m:command-response', JSON.stringify(r));
  assert.deepEqual(r.data.response, { delivered: true, answered: false, executor: '2023' });
  assert.ok(ms < 1000, `answered after ${ms.toFixed(0)} ms`);
  await ex.client.sync();
  assert.deepEqual(ex.ran, [{ actionId: 'y-root:flash', data: { level: 7 } }], 'its handler ran with the payload');
  const actionCommands = ex.commands.filter((c) => c.commandId !== 'SetClientId' && c.commandId !== 'client:setId').map((c) => c.commandId);
  assert.deepEqual(actionCommands, ['target:action:exec'], 'one name for one action');

  // A batch for it: one target:action:exec per entry, each delivered.
  ctl.send({ event: 'ws:m:command', data: { commandId: 'BatchTargetAction', command: { tx: 'y2', actions: [
    { action: { id: 'y-root:flash' }, data: { level: 1 } },
    { action: { id: 'y-root:flash' }, data: { level: 2 } },
  ] } } });
  const b = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'y2', 2000);
  assert.equal(b.data.response.results[0].ok, true);
  assert.deepEqual(b.data.response.results[0].response, [
    { delivered: true, answered: false, executor: '2023' },
    { delivered: true, answered: false, executor: '2023' },
  ]);
  await ex.client.sync();
  assert.deepEqual(ex.ran.slice(1).map((r) => r.data), [{ level: 1 }, { level: 2 }]);
  assert.ok(ex.commands.every((c) => c.commandId !== 'ExecTargetAction' && c.commandId !== 'BatchTargetAction'));
  await Promise.all([ex.client.close(), ctl.close()]);
});

test('the TouchDesigner executor (current) gets only ExecTargetAction, and its own answer is relayed', async () => {
  const ex = await executorTouchDesigner(ts.url, 'td1-', { accepted: true });
  await ex.client.sync();
  assert.equal(ts.server.state.get('Client', ex.client.clientId!)?.dialect, 'current');
  assert.equal(ts.server.state.get('Client', ex.client.clientId!)?.executor, undefined);
  const ctl = await TestClient.connect(ts.url);
  ctl.send(exec('td1', 'td1-td-op:go', { x: 1 }));
  const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'td1');
  assert.equal(r.data.response, null, 'its answer, not a "delivered" stand-in');
  assert.deepEqual(ex.commands.filter((c) => !/clientId|setId/i.test(c.commandId)).map((c) => c.commandId), ['ExecTargetAction']);
  await Promise.all([ex.client.close(), ctl.close()]);
});

test('near misses stay current: bare events without the copied id, or the copied id with tx and createdAt', async () => {
  // Each half of the 2023 signature alone: a hand-written client sending bare events, an SDK that copies its id.
  for (const [prefix, withStamp, copyId] of [['nm1-', false, false], ['nm2-', true, true]] as const) {
    const c = await TestClient.connect(ts.url);
    const stamp = withStamp ? { tx: randomUUID(), createdAt: new Date().toISOString() } : {};
    const ev = (itemType: string, item: Record<string, unknown>) => ({ event: 'ws:m:event', data: { changeType: 'SET', item, itemType, ...stamp } });
    c.send(ev('Instance', { id: `${prefix}i`, name: 'I', serviceId: 's', serviceTypeCode: 'x', ...(copyId ? { clientId: c.clientId } : {}) }));
    c.send(ev('Target', { id: `${prefix}t`, name: 'T', serviceId: 's', actionIds: [], emitterIds: [], bgColor: '#fff', fgColor: '#000' }));
    c.send(ev('Action', { id: `${prefix}t:a`, name: 'A', schema: null, targetId: `${prefix}t`, serviceId: 's' }));
    c.send(ev('TargetStatus', { targetId: `${prefix}t`, instanceId: `${prefix}i`, status: 'online' }));
    const got: string[] = [];
    c.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      if (f.event !== 'ws:m:command') return;
      got.push(f.data.commandId);
      c.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: 'ran' } });
    });
    await c.sync();
    assert.equal(ts.server.state.get('Client', c.clientId!)?.dialect, 'current', prefix);
    const ctl = await TestClient.connect(ts.url);
    ctl.send(exec(`${prefix}x`, `${prefix}t:a`, {}));
    const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === `${prefix}x`);
    assert.equal(r.data.response, 'ran', prefix);
    assert.deepEqual(got, ['ExecTargetAction'], prefix);
    await Promise.all([c.close(), ctl.close()]);
  }
});

test('an explicit ?dialect=current turns the 2023 guess off', async () => {
  const ex = await executor2023(`${ts.url}?dialect=current`, 'dc-');
  await ex.client.sync();
  assert.equal(ts.server.state.get('Client', ex.client.clientId!)?.dialect, 'current');
  assert.equal(ts.server.connections.get(ex.client.clientId!)?.neverAnswers, false);
  await ex.client.close();
});
