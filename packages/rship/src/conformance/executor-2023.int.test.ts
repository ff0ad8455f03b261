/**
 * Conformance: the 2023 Python executor (WIRE.md 1.4, 2, 6.7). It waits for
 * `client:setId`, copies that id into Instance.clientId, then sends one
 * ws:m:event per item with neither tx nor createdAt. It reads only the
 * commands `client:setId` and `target:action:exec` and never answers one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestClient } from '@myko/server/testing';
import * as old from './fixtures/executor-2023.js';
import { Controller, commandTo, fastDeadPeers, openRaw, silentProxyTo, startRshipServer } from './support.js';

const STATUSES = ['root:person:status', 'root:poses:status', 'root:status'];

/** What it does on `client:setId`: its whole topology, one event at a time; returns the id it was given. */
async function register(c: TestClient): Promise<string> {
  const setId = await c.next((f) => f.event === 'ws:m:command' && f.data?.commandId === 'client:setId');
  const clientId = setId.data.command.clientId as string;
  for (const f of [old.machine, old.instance(clientId), ...old.topology, old.action]) c.send(f);
  await c.sync(); // a barrier only
  return clientId;
}

test('on connect it is sent client:setId with a clientId', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    const f = await exec.next((x) => x.event === 'ws:m:command' && x.data?.commandId === 'client:setId');
    assert.equal(typeof f.data.command.clientId, 'string');
    assert.ok(f.data.command.clientId.length > 0);
  } finally {
    await ts.close();
  }
});

test('registration: events without tx or createdAt are stored; its TargetStatus ids are kept', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    const clientId = await register(exec);
    const ctl = await Controller.open(ts.url);
    const instance = await ctl.item('Instance', 'vm:coco');
    assert.equal(instance?.clientId, clientId);
    assert.equal(instance?.status, 'Available');
    assert.equal((await ctl.item('Machine', 'vm'))?.address, 'fakeAddress');
    assert.deepEqual((await ctl.item('Target', 'root'))?.subTargets?.length, 81);
    for (const id of STATUSES) assert.equal((await ctl.item('TargetStatus', id))?.status, 'online', id);
    assert.ok(await ctl.item('Action', 'root:reset'));
  } finally {
    await ts.close();
  }
});

test('pulses reach a controller watching Pulses', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    const tx = ctl.watch('GetAllPulses', 'Pulse');
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx);
    for (const p of old.pulses) exec.send(p);
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx && f.data.upserts.some((u: any) => u.item.id === 'root:person:count' && u.item.data?.value === 2));
  } finally {
    await ts.close();
  }
});

test('actions reach it as target:action:exec with tx, createdAt, action.id and data (it reads those four)', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    void ctl.command('ExecTargetAction', { action: { id: 'root:reset' }, data: { n: 1 } }).catch(() => {});
    const cmd = await commandTo(exec, ['target:action:exec', 'ExecTargetAction'], 2000);
    assert.equal(cmd.data.commandId, 'target:action:exec');
    const c = cmd.data.command;
    assert.equal(typeof c.tx, 'string');
    assert.equal(typeof c.createdAt, 'string', 'it reads command.createdAt without a default (KeyError otherwise)');
    assert.equal(c.action.id, 'root:reset');
    assert.deepEqual(c.data, { n: 1 });
  } finally {
    await ts.close();
  }
});

test('the caller of an action it never answers still gets an answer, soon', async () => {
  const ts = await startRshipServer();
  try {
    const exec = await openRaw(ts.url);
    await register(exec);
    const ctl = await Controller.open(ts.url);
    const answer = await ctl.command('ExecTargetAction', { action: { id: 'root:reset' }, data: { n: 1 } }, 2000);
    assert.equal(answer.event, 'ws:m:command-response');
  } finally {
    await ts.close();
  }
});

test('reconnect: a new client:setId, registration again with the new id; statuses online, Instance Available', async () => {
  const ts = await startRshipServer();
  try {
    const first = await openRaw(ts.url);
    const firstId = await register(first);
    await first.close();
    const second = await openRaw(ts.url);
    const secondId = await register(second);
    assert.notEqual(secondId, firstId);
    const ctl = await Controller.open(ts.url);
    const instance = await ctl.item('Instance', 'vm:coco');
    assert.equal(instance?.clientId, secondId);
    assert.equal(instance?.status, 'Available');
    for (const id of STATUSES) assert.equal((await ctl.item('TargetStatus', id))?.status, 'online', id);
  } finally {
    await ts.close();
  }
});

test('silent network cut: it registers again on a new socket; the dead socket is retired; it stays online and actions go to the new socket', async () => {
  const ts = await startRshipServer(fastDeadPeers);
  const proxy = await silentProxyTo(ts);
  try {
    const ctl = await Controller.open(ts.url);
    const clients = ctl.watch('GetAllClients', 'Client');
    const instances = ctl.watch('GetAllInstances', 'Instance');
    const dead = await openRaw(proxy.url());
    const deadId = await register(dead);
    proxy.silence();
    const fresh = await openRaw(ts.url);
    const freshId = await register(fresh);
    // The new socket takes the instance over while the server still holds the dead one (the owner is challenged first).
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === instances && f.data.upserts.some((u: any) => u.item.id === 'vm:coco' && u.item.clientId === freshId), 3000);

    void ctl.command('ExecTargetAction', { action: { id: 'root:reset' }, data: { n: 2 } }).catch(() => {});
    const cmd = await commandTo(fresh, ['target:action:exec'], 2000);
    assert.deepEqual(cmd.data.command.data, { n: 2 });

    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === clients && f.data.deletes.includes(deadId), 3000);
    const instance = await ctl.item('Instance', 'vm:coco');
    assert.equal(instance?.clientId, freshId);
    assert.equal(instance?.status, 'Available', 'the dead socket retired does not make the live instance Unavailable');
    for (const id of STATUSES) assert.equal((await ctl.item('TargetStatus', id))?.status, 'online', id);
  } finally {
    await proxy.close();
    await ts.close();
  }
});

test('silent network cut, no reconnect yet: the server notices and takes its targets offline', async () => {
  const ts = await startRshipServer(fastDeadPeers);
  const proxy = await silentProxyTo(ts);
  try {
    const ctl = await Controller.open(ts.url);
    const statuses = ctl.watch('GetAllTargetStatuss', 'TargetStatus');
    const dead = await openRaw(proxy.url());
    await register(dead);
    proxy.silence();
    await ctl.c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === statuses && f.data.upserts.some((u: any) => u.item.id === 'root:status' && u.item.status === 'offline'), 3000);
    assert.equal((await ctl.item('Instance', 'vm:coco'))?.status, 'Unavailable');
  } finally {
    await proxy.close();
    await ts.close();
  }
});
