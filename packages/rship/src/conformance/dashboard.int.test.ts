/**
 * Conformance: the reference MykoClient as a show dashboard over the real
 * executors (WIRE.md 6.3, 2). Every frame is a recorded one: the executors
 * register with their own frames, the dashboard asks with its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestClient, TestServer } from '@myko/server/testing';
import * as td from './fixtures/touchdesigner.js';
import * as old from './fixtures/executor-2023.js';
import * as mc from './fixtures/myko-client.js';
import { commandTo, openRaw, startRshipServer } from './support.js';

const viewTx = (frame: string): string => JSON.parse(frame).data.view.tx;

/** The TouchDesigner executor, registered as it does on connect. */
async function touchDesigner(ts: TestServer): Promise<TestClient> {
  const c = await openRaw(ts.url);
  for (const f of [td.registrationBatch, td.firstPulse, td.queryTargets, td.queryActions, td.queryEmitters]) c.send(f);
  await c.sync(); // a barrier only
  return c;
}

test('watchView(GetTargetViews): the TouchDesigner target online with its action and emitter; re-sent unchanged on a new socket, the same items', async () => {
  const ts = await startRshipServer();
  try {
    await touchDesigner(ts);
    for (const attempt of ['first socket', 'after a reconnect']) {
      const dash = await openRaw(ts.url);
      dash.send(mc.viewTargetsOfShowFile);
      const r = await dash.next((f) => f.event === 'ws:m:view-response' && f.data.tx === viewTx(mc.viewTargetsOfShowFile));
      assert.equal(r.data.sequence, 0, attempt);
      const view = r.data.upserts.map((u: any) => u.item).find((v: any) => v.id === 'td-target-1');
      assert.equal(view?.isOnline, true, attempt);
      assert.deepEqual(view.actions.map((a: any) => a.id), ['td-target-1:bulk_set'], attempt);
      assert.deepEqual(view.emitters.map((e: any) => e.id), ['td-target-1:value'], attempt);
      await dash.close();
    }
  } finally {
    await ts.close();
  }
});

test('watchViewWindowed(target tree roots, limit 1): windowOrder names the page in order, total_count the whole', async () => {
  const ts = await startRshipServer();
  try {
    await touchDesigner(ts);
    const dash = await openRaw(ts.url);
    dash.send(mc.viewTreeRootsWindowed);
    const r = await dash.next((f) => f.event === 'ws:m:view-response' && f.data.tx === viewTx(mc.viewTreeRootsWindowed));
    const order = r.data.changes?.find((c: { kind: string }) => c.kind === 'windowOrder');
    assert.deepEqual(order?.ids, ['td-target-1']);
    assert.equal(order?.total_count, 1);
    assert.equal(r.data.totalCount, 1);
  } finally {
    await ts.close();
  }
});

test('sendCommand(ExecTargetAction) from the dashboard reaches the TouchDesigner executor; its answer resolves the command by tx', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await touchDesigner(ts);
    const dash = await openRaw(ts.url);
    const tx = JSON.parse(mc.commandExecTdBulkSet).data.command.tx;
    dash.send(mc.commandExecTdBulkSet);
    const cmd = await commandTo(exec, ['ExecTargetAction']);
    assert.equal(cmd.data.command.action.targetId, 'td-target-1');
    exec.send(td.commandResponse(cmd.data.command.tx));
    const answer = await dash.next((f) => (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error') && f.data.tx === tx);
    assert.equal(answer.event, 'ws:m:command-response');
    assert.equal(answer.data.response, null);
  } finally {
    await ts.close();
  }
});

test('the target tree of a 2023 executor: root is its only root, the targets in its subTargets are its children', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    const setId = await exec.next((f) => f.event === 'ws:m:command' && f.data?.commandId === 'client:setId');
    for (const f of [old.machine, old.instance(setId.data.command.clientId), ...old.topology]) exec.send(f);
    await exec.sync();
    const dash = await openRaw(ts.url);
    dash.send(mc.viewTreeRootsWindowed);
    const roots = await dash.next((f) => f.event === 'ws:m:view-response' && f.data.tx === viewTx(mc.viewTreeRootsWindowed));
    assert.equal(roots.data.totalCount, 1, 'rootLevel: false targets are not roots');
    assert.deepEqual(roots.data.upserts.map((u: any) => u.item.id), ['root']);
    dash.send({ event: 'ws:m:view', data: { viewId: 'GetTargetTreeByParentFiltered', viewItemType: 'TargetTreeView', view: { tx: 'kids', parentTargetId: 'root' } } });
    const kids = await dash.next((f) => f.event === 'ws:m:view-response' && f.data.tx === 'kids');
    assert.deepEqual(kids.data.upserts.map((u: any) => u.item.id).sort(), ['root:person', 'root:poses']);
  } finally {
    await ts.close();
  }
});
