/**
 * Rocketship entities as real executors send them (WIRE.md 6.1): the
 * TouchDesigner executor's Target, Pulse and events, replayed unchanged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, tempDir, TestClient, type TestServer, type AnyFrame } from '@myko/server/testing';
import { defaultTargetColors } from '../entities.js';
import { rshipPlugin } from './plugin.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin()] });
});
after(async () => {
  await ts.close();
});

/** An event as the TouchDesigner executor writes it: sourceId null on every one. */
const td = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item, sourceId: null, tx: null, createdAt: null });
const isResp = (tx: string, sequence?: number) => (f: AnyFrame) =>
  f.event === 'ws:m:query-response' && f.data?.tx === tx && (sequence === undefined || f.data.sequence === sequence);

test('the TouchDesigner registration is accepted whole: Target without actionIds/emitterIds/colours/rootLevel, Pulse with clientId null', async () => {
  const ex = await TestClient.connect(ts.url);
  ex.send({
    event: 'ws:m:event-batch',
    data: [
      td('Instance', { id: 'td-inst', name: 'TouchDesigner', serviceId: 'ShowFile', serviceTypeCode: 'touchdesigner', clientId: null }),
      // Exactly the executor's Target: {id, name, parentTargets, serviceId, category}.
      td('Target', { id: 'td-root', name: 'Show', parentTargets: [], serviceId: 'ShowFile', category: null }),
      td('Target', { id: 'td-child', name: 'Layer 1', parentTargets: ['td-root'], serviceId: 'ShowFile', category: 'layer' }),
      td('Action', { id: 'td-child:go', name: 'Go', schema: null, targetId: 'td-child', serviceId: 'ShowFile' }),
      td('Emitter', { id: 'td-child:level', name: 'Level', targetId: 'td-child', serviceId: 'ShowFile' }),
      td('TargetStatus', { targetId: 'td-child', instanceId: 'td-inst', status: 'online' }),
    ],
  });
  ex.send({ event: 'ws:m:event', data: td('Pulse', { emitterId: 'td-child:level', data: { v: 0.5 }, clientId: null }) });
  await ex.sync();
  assert.deepEqual(ex.all('ws:m:error'), [], 'nothing refused');
  const root = ts.server.state.get('Target', 'td-root')!;
  const child = ts.server.state.get('Target', 'td-child')!;
  assert.equal(root.bgColor, defaultTargetColors.bgColor);
  assert.equal(root.fgColor, defaultTargetColors.fgColor);
  assert.equal(root.rootLevel, true, 'no parent targets: root level');
  assert.equal(child.rootLevel, false);
  assert.deepEqual(root.actionIds, []);
  assert.deepEqual(root.emitterIds, []);
  assert.deepEqual(child.actionIds, ['td-child:go'], 'derived from the Action naming it (same batch, after the Target)');
  assert.deepEqual(child.emitterIds, ['td-child:level']);
  assert.deepEqual(ts.server.state.get('Pulse', 'td-child:level')?.data, { v: 0.5 });
  assert.equal(ts.server.state.get('Instance', 'td-inst')?.clientId, ex.clientId, 'a null owner field is filled with the sender');

  // Its topology query, nulls and all, finds its targets.
  ex.send({ event: 'ws:m:query', data: { queryId: 'GetTargetsByQuery', queryItemType: 'Target', query: { tx: 'topo', createdAt: new Date().toISOString(), serviceId: 'ShowFile', category: null, name: null, parentTargets: null } } });
  const topo = await ex.next(isResp('topo', 0));
  assert.deepEqual(topo.data.upserts.map((u: any) => u.item.id).sort(), ['td-child', 'td-root']);
  await ex.close();
});

test("a Target's actionIds/emitterIds follow the Actions and Emitters naming it, in state and in every watcher's diffs, and survive a restart", async () => {
  const dataDir = tempDir('rship-backrefs-');
  let s: TestServer | undefined;
  try {
    s = await startTestServer({ dataDir, plugins: [rshipPlugin()] });
    const ex = await TestClient.connect(s.url);
    const watcher = await TestClient.connect(s.url);
    // Actions first, then the Target (a reconnecting executor's order), then more later.
    ex.send({ event: 'ws:m:event-batch', data: [td('Action', { id: 'a1', name: 'A1', schema: null, targetId: 't', serviceId: 's' })] });
    ex.send({ event: 'ws:m:event', data: td('Target', { id: 't', name: 'T', serviceId: 's' }) });
    await ex.sync();
    assert.deepEqual(s.server.state.get('Target', 't')?.actionIds, ['a1']);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetTargetsByQuery', queryItemType: 'Target', query: { tx: 'w', serviceId: 's' } } });
    const w0 = await watcher.next(isResp('w', 0));
    assert.deepEqual(w0.data.upserts[0].item.actionIds, ['a1']);

    ex.send({ event: 'ws:m:event', data: td('Action', { id: 'a2', name: 'A2', schema: null, targetId: 't', serviceId: 's' }) });
    const w1 = await watcher.next(isResp('w', 1));
    assert.deepEqual(w1.data.upserts[0].item.actionIds, ['a1', 'a2'], 'a later Action reaches the watchers of its Target');
    ex.send({ event: 'ws:m:event', data: td('Emitter', { id: 'e1', name: 'E1', targetId: 't', serviceId: 's' }) });
    const w2 = await watcher.next(isResp('w', 2));
    assert.deepEqual(w2.data.upserts[0].item.emitterIds, ['e1']);
    ex.send({ event: 'ws:m:event', data: { itemType: 'Action', changeType: 'DEL', item: { id: 'a1' } } });
    const w3 = await watcher.next(isResp('w', 3));
    assert.deepEqual(w3.data.upserts[0].item.actionIds, ['a2'], 'a deleted Action leaves the list');
    // The executor re-registers the Target unchanged: nothing changes, nothing is sent.
    ex.send({ event: 'ws:m:event', data: td('Target', { id: 't', name: 'T', serviceId: 's' }) });
    await ex.sync();
    await watcher.sync();
    assert.equal(watcher.all('ws:m:query-response', 'w').length, 4, 'an equal re-registration sends no diff');
    // An executor's own explicit list is kept, and joined by what names the target.
    ex.send({ event: 'ws:m:event', data: td('Target', { id: 't2', name: 'T2', serviceId: 's', actionIds: ['x'], emitterIds: [], bgColor: '#000', fgColor: '#fff' }) });
    ex.send({ event: 'ws:m:event', data: td('Action', { id: 'a3', name: 'A3', schema: null, targetId: 't2', serviceId: 's' }) });
    await ex.sync();
    assert.deepEqual(s.server.state.get('Target', 't2')?.actionIds, ['x', 'a3']);
    assert.equal(s.server.state.get('Target', 't2')?.bgColor, '#000', 'given colours are kept');
    await Promise.all([ex.close(), watcher.close()]);
    await s.close();
    s = undefined;

    s = await startTestServer({ dataDir, plugins: [rshipPlugin()] });
    assert.deepEqual(s.server.state.get('Target', 't')?.actionIds, ['a2'], 'rebuilt from the log');
    assert.deepEqual(s.server.state.get('Target', 't')?.emitterIds, ['e1']);
    assert.deepEqual(s.server.state.get('Target', 't2')?.actionIds, ['x', 'a3']);
    // A historic query (asOf) sees the lists as live state had them then.
    const h = await TestClient.connect(s.url);
    h.send({ event: 'ws:m:query', data: { queryId: 'GetTargetsByIds', queryItemType: 'Target', query: { tx: 'h', ids: ['t'], asOf: { position: s.server.writer.position } } } });
    const hr = await h.next(isResp('h', 0));
    assert.deepEqual(hr.data.upserts[0].item.actionIds, ['a2']);
    assert.deepEqual(hr.data.upserts[0].item.emitterIds, ['e1']);
    await h.close();
  } finally {
    await s?.close(); // also when an assertion failed: an open server would keep the test process alive
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('backrefs survive checkpoints: a Target changed only through its Actions is saved with them', async () => {
  const dataDir = tempDir('rship-backrefs-cp-');
  let s: TestServer | undefined;
  try {
    // A checkpoint after every batch: the Target is saved with the Action, and the Action's DEL lands in a
    // later checkpoint that no event of the Target dirtied.
    const config = { checkpointEvery: 1 };
    s = await startTestServer({ dataDir, config, plugins: [rshipPlugin()] });
    const ex = await TestClient.connect(s.url);
    ex.send({ event: 'ws:m:event-batch', data: [td('Target', { id: 'cp-t', name: 'T', serviceId: 's' }), td('Action', { id: 'cp-a1', name: 'A', schema: null, targetId: 'cp-t', serviceId: 's' })] });
    await ex.sync();
    await s.server.writer.idle();
    ex.send({ event: 'ws:m:event', data: td('Action', { id: 'cp-a2', name: 'A2', schema: null, targetId: 'cp-t', serviceId: 's' }) });
    ex.send({ event: 'ws:m:event', data: { itemType: 'Action', changeType: 'DEL', item: { id: 'cp-a1' } } });
    await ex.sync();
    assert.deepEqual(s.server.state.get('Target', 'cp-t')?.actionIds, ['cp-a2']);
    await ex.close();
    await s.close();
    s = undefined;
    s = await startTestServer({ dataDir, config, plugins: [rshipPlugin()] });
    assert.ok(s.server.bootStats.checkpointPosition > 0, 'booted from a checkpoint');
    assert.deepEqual(s.server.state.get('Target', 'cp-t')?.actionIds, ['cp-a2'], 'the deleted Action is not back');
  } finally {
    await s?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a Target refused for several problems names every one of them in one error', async () => {
  const c = await TestClient.connect(ts.url);
  c.send({ event: 'ws:m:event', data: { ...td('Target', { id: 'bad', name: 5, bgColor: 7, actionIds: 'a' }), tx: 'bad-t' } });
  const e = await c.next((f) => f.event === 'ws:m:error' && f.data.tx === 'bad-t');
  assert.equal(e.data.code, 'MYKO_BAD_EVENT');
  for (const problem of ['item.serviceId is required', 'item.name must be string', 'item.bgColor must be string', 'item.actionIds must be array'])
    assert.ok(e.data.message.includes(problem), `${problem} in: ${e.data.message}`);
  assert.equal(ts.server.state.get('Target', 'bad'), undefined);
  await c.close();
});
