import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin()] });
});
after(async () => {
  await ts.close();
});

/** An executor's registration, children first (as executors send it): a status before its target and instance. */
function register(p: string) {
  const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
  return [
    ev('TargetStatus', { targetId: `${p}stand`, instanceId: `${p}inst`, status: 'online' }),
    ev('Action', { id: `${p}stand:burn`, name: 'Burn', targetId: `${p}stand`, serviceId: 'bluth' }),
    ev('Emitter', { id: `${p}stand:sold`, name: 'Sold', targetId: `${p}stand`, serviceId: 'bluth' }),
    ev('Target', {
      id: `${p}stand`, name: 'The Banana Stand', serviceId: 'bluth', category: 'stands', parentTargets: [],
      actionIds: [`${p}stand:burn`], emitterIds: [`${p}stand:sold`], bgColor: '#ffff00', fgColor: '#000000',
    }),
    ev('Instance', { id: `${p}inst`, name: 'Bluth Executor', serviceId: 'bluth', serviceTypeCode: 'bluth' }),
  ];
}
const types = ['Action', 'Emitter', 'TargetStatus'] as const;
const resp = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data.tx === tx;
function ids(c: TestClient, tx: string): string[] {
  const m = new Set<string>();
  for (const f of c.all('ws:m:query-response', tx)) {
    if (f.data.sequence === 0) m.clear();
    for (const u of f.data.upserts) m.add(u.item.id);
    for (const id of f.data.deletes) m.delete(id);
  }
  return [...m].sort();
}
async function watcher(p: string) {
  const w = await TestClient.connect(ts.url);
  for (const t of types) w.send({ event: 'ws:m:query', data: { queryId: `Get${t}sByQuery`, queryItemType: t, query: { tx: t, targetId: `${p}stand` } } });
  for (const t of types) await w.next(resp(t));
  return w;
}

test('deleting a target removes its actions, emitters (and their pulses) and statuses in the same commit', async () => {
  const executor = await TestClient.connect(ts.url);
  executor.send({ event: 'ws:m:event-batch', data: register('d-') });
  await executor.sync();
  assert.deepEqual(executor.all('ws:m:error'), [], 'a status sent before its target and instance is accepted');
  executor.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { emitterId: 'd-stand:sold', data: { n: 1 } } } });
  await executor.sync();
  assert.ok(ts.server.state.get('Pulse', 'd-stand:sold'));
  const w = await watcher('d-');
  assert.deepEqual(ids(w, 'Action'), ['d-stand:burn']);
  assert.deepEqual(ids(w, 'TargetStatus'), ['d-inst:d-stand']);
  executor.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'DEL', item: { id: 'd-stand' } } });
  await executor.sync();
  await w.sync();
  for (const t of types) {
    assert.deepEqual(ids(w, t), [], `${t} removed`);
    assert.equal(w.all('ws:m:query-response', t).filter((f) => f.data.sequence > 0).length, 1, `${t}: one diff`);
  }
  assert.equal(ts.server.state.get('Pulse', 'd-stand:sold'), undefined, 'the emitter’s latest pulse went with it');
  await w.close();
  await executor.close();
});

test('a disconnect only takes things offline; deleting the target afterwards (DeleteTarget) removes what hangs off it', async () => {
  const executor = await TestClient.connect(ts.url);
  executor.send({ event: 'ws:m:event-batch', data: register('o-') });
  await executor.sync();
  const w = await watcher('o-');
  await executor.close();
  await w.next((f) => resp('TargetStatus')(f) && f.data.upserts.some((u: any) => u.item.status === 'offline'));
  await w.sync();
  assert.deepEqual(ids(w, 'Action'), ['o-stand:burn'], 'actions stay');
  assert.deepEqual(ids(w, 'Emitter'), ['o-stand:sold'], 'emitters stay');
  assert.deepEqual(ids(w, 'TargetStatus'), ['o-inst:o-stand'], 'the status stays (offline)');
  assert.equal(ts.server.state.get('Instance', 'o-inst')?.status, 'Unavailable');

  w.send({ event: 'ws:m:command', data: { commandId: 'DeleteTarget', command: { tx: 'del', id: 'o-stand' } } });
  await w.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'del');
  await w.sync();
  for (const t of types) assert.deepEqual(ids(w, t), [], `${t} removed with its target`);
  await w.close();
});

test('deleting an instance removes its target statuses, not the targets', async () => {
  const executor = await TestClient.connect(ts.url);
  executor.send({ event: 'ws:m:event-batch', data: register('i-') });
  await executor.sync();
  const w = await watcher('i-');
  assert.deepEqual(ids(w, 'TargetStatus'), ['i-inst:i-stand']);
  executor.send({ event: 'ws:m:event', data: { itemType: 'Instance', changeType: 'DEL', item: { id: 'i-inst' } } });
  await executor.sync();
  await w.sync();
  assert.deepEqual(ids(w, 'TargetStatus'), []);
  assert.deepEqual(ids(w, 'Action'), ['i-stand:burn']);
  assert.ok(ts.server.state.get('Target', 'i-stand'));
  await w.close();
  await executor.close();
});
