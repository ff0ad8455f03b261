/**
 * Conformance: the TouchDesigner executor (WIRE.md 6.1, 6.2, 6.7). Its recorded
 * frames are replayed as sent; each test asserts what that executor relies on.
 * It never reads ws:m:error, so a refused frame is a silent failure: the
 * checks look at what the server holds and forwards, not at its replies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestClient } from '@myko/server/testing';
import * as td from './fixtures/touchdesigner.js';
import { Controller, clientIdOf, commandTo, fastDeadPeers, openRaw, silentProxyTo, startRshipServer } from './support.js';

const INSTANCE = 'td-machine-1:ShowFile';
const TARGET = 'td-target-1';
const ACTION = 'td-target-1:bulk_set';
const STATUS = `${INSTANCE}:${TARGET}`;

/** What the executor sends on connect: its batch, its emitter values, its three topology queries. */
async function register(c: TestClient, batch = td.registrationBatch): Promise<void> {
  for (const f of [batch, td.firstPulse, td.queryTargets, td.queryActions, td.queryEmitters]) c.send(f);
  await c.sync(); // a barrier only: every frame above has been handled once the echo is back
}

const txOf = (frame: string): string => JSON.parse(frame).data.query.tx;

test('registration: its one batch (sourceId null, a Target of five fields, Instance.clientId null) is stored whole', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    const instance = await ctl.item('Instance', INSTANCE);
    assert.ok(instance, 'Instance stored');
    assert.equal(instance.clientId, await clientIdOf(exec), 'the server binds the instance to the connection (the executor never learns its id)');
    assert.ok(await ctl.item('Target', TARGET), 'Target stored');
    assert.ok(await ctl.item('Action', ACTION), 'Action stored');
    assert.ok(await ctl.item('Emitter', 'td-target-1:value'), 'Emitter stored');
    assert.equal((await ctl.item('TargetStatus', STATUS))?.status, 'online');
  } finally {
    await ts.close();
  }
});

test('topology sync: GetTargetsByQuery with null fields returns every Target of its service, stale ones included, and its offline status for a stale one is stored', async () => {
  const ts = await startRshipServer();
  try {
    // A target this executor had in an earlier show file: it must come back so the executor can mark it offline.
    const ctl = await Controller.open(ts.url);
    ctl.c.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', item: { id: 'td-target-stale', name: 'old', serviceId: 'ShowFile', actionIds: [], emitterIds: [], bgColor: '#000', fgColor: '#fff', parentTargets: [] } } });
    await ctl.c.sync();
    const exec = await openRaw(ts.url);
    await register(exec);
    const answer = (frame: string) => exec.next((f) => f.event === 'ws:m:query-response' && f.data.tx === txOf(frame));
    const targets = (await answer(td.queryTargets)).data.upserts.map((u: any) => u.item.id).sort();
    assert.deepEqual(targets, [TARGET, 'td-target-stale']);
    const actions = (await answer(td.queryActions)).data.upserts.map((u: any) => u.item.id);
    assert.deepEqual(actions, [ACTION], 'schema: null is no constraint');
    const emitters = (await answer(td.queryEmitters)).data.upserts.map((u: any) => u.item.id);
    assert.deepEqual(emitters, ['td-target-1:value']);
    // What it does with the answer: the stale target is set offline under its instance.
    exec.send(td.staleTargetOffline);
    await exec.sync();
    assert.equal((await ctl.item('TargetStatus', `${INSTANCE}:td-target-stale`))?.status, 'offline');
  } finally {
    await ts.close();
  }
});

test('pulses: each ws:m:event Pulse reaches a controller watching Pulses', async () => {
  const ts = await startRshipServer();
  try {
    const ctl = await Controller.open(ts.url);
    const tx = ctl.watch('GetAllPulses', 'Pulse');
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx);
    const exec = await openRaw(ts.url);
    await register(exec);
    for (const p of td.pulses) exec.send(p);
    const last = await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx && f.data.upserts.some((u: any) => u.item.id === 'td-target-1:value' && u.item.data?.value === 2));
    assert.ok(last);
  } finally {
    await ts.close();
  }
});

test('actions: ExecTargetAction reaches it with action.id and action.targetId; its `response: null` answers the caller', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    const reply = ctl.command('ExecTargetAction', { action: { id: ACTION }, data: { Level: 0.5 } });
    const cmd = await commandTo(exec, ['ExecTargetAction']);
    // The executor answers "Command missing action.id or action.targetId" without these two.
    assert.equal(cmd.data.command.action.id, ACTION);
    assert.equal(cmd.data.command.action.targetId, TARGET);
    assert.deepEqual(cmd.data.command.data, { Level: 0.5 });
    exec.send(td.commandResponse(cmd.data.command.tx));
    const answer = await reply;
    assert.equal(answer.event, 'ws:m:command-response');
  } finally {
    await ts.close();
  }
});

test('BatchTargetAction: it answers each entry with the batch tx; the caller gets its answer', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    const reply = ctl.command('BatchTargetAction', { actions: [{ action: { id: ACTION }, data: {} }] });
    const cmd = await commandTo(exec, ['BatchTargetAction', 'ExecTargetAction']);
    if (cmd.data.commandId === 'BatchTargetAction') {
      for (const entry of cmd.data.command.actions) {
        assert.equal(entry.action.targetId, TARGET);
        exec.send(td.commandResponse(cmd.data.command.tx));
      }
    } else exec.send(td.commandResponse(cmd.data.command.tx));
    assert.equal((await reply).event, 'ws:m:command-response');
  } finally {
    await ts.close();
  }
});

test('reconnect: registering again on a new socket takes its actions over; statuses stay online', async () => {
  const ts = await startRshipServer();
  try {
    const first = await openRaw(ts.url);
    await register(first);
    await first.close();
    const second = await openRaw(ts.url);
    await register(second, td.registrationBatchAgain);
    const ctl = await Controller.open(ts.url);
    assert.equal((await ctl.item('TargetStatus', STATUS))?.status, 'online');
    const reply = ctl.command('ExecTargetAction', { action: { id: ACTION }, data: {} });
    const cmd = await commandTo(second, ['ExecTargetAction']);
    second.send(td.commandResponse(cmd.data.command.tx));
    assert.equal((await reply).event, 'ws:m:command-response');
  } finally {
    await ts.close();
  }
});

test('silent network cut: it re-registers on a new socket while the server holds the dead one; the dead one is retired; it stays online', async () => {
  const ts = await startRshipServer(fastDeadPeers);
  const proxy = await silentProxyTo(ts);
  try {
    const ctl = await Controller.open(ts.url);
    const clients = ctl.watch('GetAllClients', 'Client');
    const instances = ctl.watch('GetAllInstances', 'Instance');
    const dead = await openRaw(proxy.url());
    await register(dead);
    const deadId = await clientIdOf(dead);
    proxy.silence();
    const fresh = await openRaw(ts.url);
    await register(fresh, td.registrationBatchAgain);
    const freshId = await clientIdOf(fresh);
    // The new socket takes the instance over while the server still holds the dead one (the owner is challenged first).
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === instances && f.data.upserts.some((u: any) => u.item.id === INSTANCE && u.item.clientId === freshId), 3000);

    const reply = ctl.command('ExecTargetAction', { action: { id: ACTION }, data: {} });
    const cmd = await commandTo(fresh, ['ExecTargetAction']);
    fresh.send(td.commandResponse(cmd.data.command.tx));
    assert.equal((await reply).event, 'ws:m:command-response', 'the action went to the live socket');

    // The heartbeat retires the dead socket; that changes nothing for the live one.
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === clients && f.data.deletes.includes(deadId), 3000);
    assert.equal((await ctl.item('TargetStatus', STATUS))?.status, 'online');
    assert.equal((await ctl.item('Instance', INSTANCE))?.status, 'Available');
  } finally {
    await proxy.close();
    await ts.close();
  }
});

test('silent network cut, no reconnect yet: the server notices, its targets go offline, an action fails at once instead of waiting on the dead socket', async () => {
  const ts = await startRshipServer(fastDeadPeers);
  const proxy = await silentProxyTo(ts);
  try {
    const ctl = await Controller.open(ts.url);
    const statuses = ctl.watch('GetAllTargetStatuss', 'TargetStatus');
    const dead = await openRaw(proxy.url());
    await register(dead);
    proxy.silence();
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === statuses && f.data.upserts.some((u: any) => u.item.id === STATUS && u.item.status === 'offline'), 3000);
    const answer = await ctl.command('ExecTargetAction', { action: { id: ACTION }, data: {} }, 1000);
    assert.equal(answer.event, 'ws:m:command-error');
  } finally {
    await proxy.close();
    await ts.close();
  }
});
