import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';

/** The Rocketship views: a Target joined with its statuses, actions and emitters, live. */

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin()] });
});
after(async () => {
  await ts.close();
});

const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
const target = (id: string, extra: Record<string, unknown> = {}) =>
  ev('Target', { id, name: id, serviceId: 'svc', actionIds: [], emitterIds: [], bgColor: '#000', fgColor: '#fff', ...extra });

/** What an executor registers: an instance, targets with one action and one emitter each, online statuses. */
function register(prefix: string) {
  return [
    ev('Instance', { id: `${prefix}inst`, name: 'Exec', serviceId: 'svc', serviceTypeCode: 'x' }),
    target(`${prefix}stage`),
    target(`${prefix}stage:light`, { parentTargets: [`${prefix}stage`] }),
    ...[`${prefix}stage`, `${prefix}stage:light`].flatMap((t) => [
      ev('Action', { id: `${t}:go`, name: 'Go', schema: null, targetId: t, serviceId: 'svc' }),
      ev('Emitter', { id: `${t}:level`, name: 'Level', targetId: t, serviceId: 'svc' }),
      ev('TargetStatus', { targetId: t, instanceId: `${prefix}inst`, status: 'online' }),
    ]),
  ];
}

const view = (tx: string, viewId: string, params: Record<string, unknown>) => ({
  event: 'ws:m:view',
  data: { viewId, viewItemType: viewId === 'GetTargetViews' ? 'TargetView' : 'TargetTreeView', view: { tx, createdAt: new Date().toISOString(), ...params } },
});
const resp = (tx: string, seq: number) => (f: AnyFrame) => f.event === 'ws:m:view-response' && f.data.tx === tx && f.data.sequence === seq;
const byId = (f: AnyFrame, id: string) => f.data.upserts.find((u: any) => u.item.id === id)?.item;

test('GetTargetViews joins each target with its statuses, actions and emitters, and follows them live', async () => {
  const exec = await TestClient.connect(ts.url);
  exec.send({ event: 'ws:m:event-batch', data: register('a-') });
  await exec.sync();
  const ui = await TestClient.connect(ts.url);
  ui.send(view('tv', 'GetTargetViews', { serviceId: 'svc' }));
  const s0 = await ui.next(resp('tv', 0));
  assert.equal(s0.data.totalCount, 2);
  assert.equal(s0.data.upserts[0].itemType, 'TargetView');
  const stage = byId(s0, 'a-stage');
  assert.equal(stage.target.name, 'a-stage');
  assert.equal(stage.isOnline, true);
  assert.deepEqual(stage.statuses.map((s: any) => [s.id, s.status]), [['a-inst:a-stage', 'online']]);
  assert.deepEqual(stage.actions.map((a: any) => a.id), ['a-stage:go']);
  assert.deepEqual(stage.emitters.map((e: any) => e.id), ['a-stage:level']);

  // An action is added: only that target's view is sent, with both actions.
  exec.send({ event: 'ws:m:event', data: ev('Action', { id: 'a-stage:stop', name: 'Stop', schema: null, targetId: 'a-stage', serviceId: 'svc' }) });
  const s1 = await ui.next(resp('tv', 1));
  assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id), ['a-stage']);
  assert.deepEqual(byId(s1, 'a-stage').actions.map((a: any) => a.id), ['a-stage:go', 'a-stage:stop']);

  // Pulses are not an input: a storm of them sends nothing.
  for (let i = 0; i < 50; i++) exec.send({ event: 'ws:m:event', data: ev('Pulse', { emitterId: 'a-stage:level', data: { v: i } }) });
  await exec.sync();
  await ui.sync();
  assert.equal(ui.all('ws:m:view-response', 'tv').length, 2);

  // The executor's connection drops: its statuses go offline, and both views say so.
  await exec.close();
  const s2 = await ui.next(resp('tv', 2), 2000);
  assert.deepEqual(s2.data.upserts.map((u: any) => u.item.id).sort(), ['a-stage', 'a-stage:light']);
  assert.equal(byId(s2, 'a-stage').isOnline, false);
  assert.equal(byId(s2, 'a-stage').statuses[0].status, 'offline');
  await ui.close();
});

test('GetTargetTreeByParentFiltered: root targets or the children of one, online only unless includeOffline', async () => {
  const exec = await TestClient.connect(ts.url);
  exec.send({ event: 'ws:m:event-batch', data: register('t-') });
  await exec.sync();
  const ui = await TestClient.connect(ts.url);
  ui.send(view('kids', 'GetTargetTreeByParentFiltered', { parentTargetId: 't-stage', includeOffline: false }));
  const k0 = await ui.next(resp('kids', 0));
  assert.deepEqual(k0.data.upserts.map((u: any) => [u.itemType, u.item.id]), [['TargetTreeView', 't-stage:light']]);
  ui.send(view('roots', 'GetTargetTreeByParentFiltered', { parentTargetId: null, includeOffline: true }));
  const r0 = await ui.next(resp('roots', 0));
  assert.ok(r0.data.upserts.some((u: any) => u.item.id === 't-stage'));
  assert.ok(!r0.data.upserts.some((u: any) => u.item.id === 't-stage:light'), 'a child is not a root');

  // Offline: it leaves the online-only view, stays (offline) in the other.
  await exec.close();
  const k1 = await ui.next(resp('kids', 1), 2000);
  assert.deepEqual(k1.data.deletes, ['t-stage:light']);
  const r1 = await ui.next(resp('roots', 1), 2000);
  assert.equal(byId(r1, 't-stage').isOnline, false);

  // Unknown params are ignored, bad ones refused.
  ui.send(view('bad', 'GetTargetTreeByParentFiltered', { includeOffline: 'yes' }));
  const e = await ui.next((f) => f.event === 'ws:m:view-error' && f.data.tx === 'bad');
  assert.match(e.data.message, /includeOffline/);
  await ui.close();
});

test('GetTargetTreeByParentFiltered: a 2023-style tree (the parent lists subTargets, children rootLevel: false), live as the list changes', async () => {
  const exec = await TestClient.connect(ts.url);
  // As the 2023 executor registers: the parent names its children; they name no parent and say they are not roots.
  exec.send({
    event: 'ws:m:event-batch',
    data: [
      target('o-root', { subTargets: ['o-a', 'o-b'], rootLevel: true }),
      target('o-a', { rootLevel: false }),
      target('o-b', { rootLevel: false }),
      target('o-c', { rootLevel: false }),
    ],
  });
  await exec.sync();
  const ui = await TestClient.connect(ts.url);
  ui.send(view('o-kids', 'GetTargetTreeByParentFiltered', { parentTargetId: 'o-root', includeOffline: true }));
  const k0 = await ui.next(resp('o-kids', 0));
  assert.deepEqual(k0.data.upserts.map((u: any) => u.item.id), ['o-a', 'o-b']);
  ui.send(view('o-roots', 'GetTargetTreeByParentFiltered', { parentTargetId: null, includeOffline: true }));
  const r0 = await ui.next(resp('o-roots', 0));
  const roots = r0.data.upserts.map((u: any) => u.item.id).filter((id: string) => id.startsWith('o-'));
  assert.deepEqual(roots, ['o-root'], 'rootLevel: false children are not roots');

  // The parent's list changes: o-c joins, o-a leaves; the children's view follows.
  exec.send({ event: 'ws:m:event', data: target('o-root', { subTargets: ['o-b', 'o-c'], rootLevel: true }) });
  const k1 = await ui.next(resp('o-kids', 1));
  assert.deepEqual(k1.data.deletes, ['o-a']);
  assert.deepEqual(k1.data.upserts.map((u: any) => u.item.id), ['o-c'], 'o-b stayed as it was: not sent again');
  await exec.close();
  await ui.close();
});
