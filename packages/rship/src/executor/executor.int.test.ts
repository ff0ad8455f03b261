import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { build, type Plugin } from 'esbuild';
import { startTestServer, spawnServer, exited, tempDir, TestClient, sleep, type TestServer } from '@myko/server/testing';
import { rshipPlugin } from '../server/plugin.js';
import { connect, nodeTransport, ExecutorError, type ExecutorSession, type RegistrationInfo } from './node.js';
import type { TransportSocket } from '@myko/client';
import { command, freePort, view } from './test-support.js';

let ts: TestServer;
const sessions: ExecutorSession[] = [];
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin({ actionTimeoutMs: 3000 })] });
});
after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await ts.close();
});

const open = (url = ts.url, extra: Parameters<typeof connect>[0] = {}) => {
  const s = connect({ url, reconnect: { initialDelayMs: 50, maxDelayMs: 300 }, ...extra });
  sessions.push(s);
  return s;
};

const burnSchema = { type: 'object', required: ['intensity'], properties: { intensity: { type: 'number', minimum: 0, maximum: 10 } }, additionalProperties: false };

/** The seed's Banana Stand, built with the SDK; `p` keeps tests apart on the shared server. */
function bananaStand(s: ExecutorSession, p: string, calls: unknown[] = []) {
  const instance = s.addInstance({ id: `${p}inst`, name: 'Bluth Executor', serviceId: 'bluth-company', serviceTypeCode: 'bluth', machine: { name: 'Stand PC' } });
  const stand = instance.addTarget({ id: `${p}banana-stand`, name: 'The Banana Stand', bgColor: '#ffff00', fgColor: '#000000' });
  const burn = stand.addAction('burn', burnSchema, (data: { intensity: number }, ctx) => {
    calls.push({ data, ctx });
    if (data.intensity > 8) throw new ExecutorError('TOO_HOT', 'too hot for the stand');
    return { burned: true, intensity: data.intensity };
  });
  const fill = stand.addAction('Fill with money', null, async (data) => {
    await sleep(5);
    return { filled: data };
  });
  const sold = stand.addEmitter('banana-sold', { type: 'object', properties: { count: { type: 'integer' } } });
  const tossed = stand.addEmitter('banana-tossed');
  const taken = stand.addEmitter({ name: 'dollar-taken', id: `${p}banana-stand:dollar-taken` });
  const register = stand.addTarget({ name: 'Cash register', bgColor: '#00aa00', fgColor: '#ffffff' });
  register.addAction('open', () => 'opened');
  return { instance, stand, burn, fill, sold, tossed, taken, register };
}

test('the Banana Stand through the SDK: a controller sees instance, targets, sub-target, actions, emitters, statuses', async () => {
  const s = open();
  const b = bananaStand(s, 'a-');
  const info = await s.registered();
  assert.equal(info.clientId, s.clientId);
  assert.equal(info.items, 13, 'Machine, Service, Instance, 3 actions, 3 emitters, 2 targets, 2 statuses in the first batch');
  assert.deepEqual(info.staleOffline, []);

  const ctl = await TestClient.connect(ts.url);
  const targets = view(ctl, 'GetAllTargets', 'Target');
  const actions = view(ctl, 'GetActionsByQuery', 'Action', { targetId: 'a-banana-stand' });
  const emitters = view(ctl, 'GetEmittersByQuery', 'Emitter', { targetId: 'a-banana-stand' });
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'a-inst' });
  const instances = view(ctl, 'GetInstancesByIds', 'Instance', { ids: ['a-inst'] });
  await Promise.all([targets, actions, emitters, statuses, instances].map((v) => v.until(() => true)));

  const stand = targets.items.get('a-banana-stand');
  assert.equal(stand.name, 'The Banana Stand');
  assert.equal(stand.bgColor, '#ffff00');
  assert.equal(stand.fgColor, '#000000');
  assert.equal(stand.serviceId, 'bluth-company');
  assert.deepEqual(stand.actionIds, ['a-banana-stand:burn', 'a-banana-stand:fill-with-money']);
  assert.deepEqual(stand.emitterIds, ['a-banana-stand:banana-sold', 'a-banana-stand:banana-tossed', 'a-banana-stand:dollar-taken']);
  assert.deepEqual(stand.subTargets, ['a-banana-stand:cash-register']);
  assert.equal(stand.rootLevel, true);
  assert.ok(typeof stand.hash === 'string' && stand.hash.length > 0, 'the server hashed it');
  const reg = targets.items.get('a-banana-stand:cash-register');
  assert.deepEqual(reg.parentTargets, ['a-banana-stand']);
  assert.deepEqual(reg.actionIds, ['a-banana-stand:cash-register:open']);
  assert.equal(reg.rootLevel, false);

  assert.deepEqual(actions.items.get('a-banana-stand:burn').schema, burnSchema);
  assert.equal(actions.items.get('a-banana-stand:fill-with-money').name, 'Fill with money');
  assert.equal(actions.items.get('a-banana-stand:fill-with-money').schema, null);
  assert.deepEqual(emitters.items.get('a-banana-stand:banana-sold').schema, { type: 'object', properties: { count: { type: 'integer' } } });
  assert.equal(emitters.items.size, 3);

  assert.deepEqual(
    [...statuses.items.values()].map((x) => [x.id, x.status, x.clientId]).sort(),
    [
      ['a-inst:a-banana-stand', 'online', s.clientId],
      ['a-inst:a-banana-stand:cash-register', 'online', s.clientId],
    ],
  );
  const inst = instances.items.get('a-inst');
  assert.equal(inst.status, 'Available');
  assert.equal(inst.clientId, s.clientId);
  assert.equal(inst.machineId, 'stand-pc');
  assert.equal(ts.server.state.get('Machine', 'stand-pc')?.name, 'Stand PC');
  assert.equal(ts.server.state.get('Service', 'bluth-company')?.systemTypeCode, 'bluth');

  // Status setters and late additions go out at once, as one change per item.
  b.register.setOffline();
  await statuses.until((m) => m.get('a-inst:a-banana-stand:cash-register')?.status === 'offline');
  b.register.setOnline();
  const late = b.stand.addAction({ name: 'Sell', id: 'a-sell' }, { type: 'object' }, () => 'sold');
  assert.equal(late.id, 'a-sell');
  await targets.until((m) => m.get('a-banana-stand')?.actionIds.includes('a-sell'));
  await statuses.until((m) => m.get('a-inst:a-banana-stand:cash-register')?.status === 'online');
  assert.ok(ts.server.state.get('Action', 'a-sell'));
  b.stand.update({ name: 'The Banana Stand (new)', tags: ['frozen'] });
  await targets.until((m) => m.get('a-banana-stand')?.name === 'The Banana Stand (new)');
  assert.deepEqual(targets.items.get('a-banana-stand').tags, ['frozen']);
  await ctl.close();
});

test('a controller invokes actions: the handler result comes back, a thrown error arrives as command-error, a bad payload never reaches the handler', async () => {
  const s = open();
  const calls: any[] = [];
  bananaStand(s, 'b-', calls);
  await s.registered();
  const ctl = await TestClient.connect(ts.url);

  const ok = await command(ctl, 'ExecTargetAction', { action: { id: 'b-banana-stand:burn' }, data: { intensity: 3 } });
  assert.deepEqual(ok, { ok: true, response: { burned: true, intensity: 3 } });
  assert.equal(calls.length, 1);
  const ctx = calls[0].ctx;
  assert.equal(ctx.action.id, 'b-banana-stand:burn');
  assert.equal(ctx.stored.name, 'burn', 'the whole stored Action is passed on');
  assert.deepEqual(ctx.stored.schema, burnSchema);
  assert.equal(ctx.target.id, 'b-banana-stand');
  assert.equal(ctx.instanceId, 'b-inst');
  assert.equal(ctx.commandId, 'ExecTargetAction');
  assert.equal(ctx.session, s);

  const thrown = await command(ctl, 'ExecTargetAction', { action: { id: 'b-banana-stand:burn' }, data: { intensity: 9 } });
  assert.deepEqual(thrown, { ok: false, code: 'TOO_HOT', message: 'too hot for the stand' });
  assert.equal(calls.length, 2);

  for (const data of [{ intensity: 11 }, { intensity: 'hot' }, {}, { intensity: 1, extra: true }]) {
    const bad = await command(ctl, 'ExecTargetAction', { action: { id: 'b-banana-stand:burn' }, data });
    assert.equal(bad.ok, false);
    assert.equal((bad as { code: string }).code, 'RSHIP_BAD_PAYLOAD', JSON.stringify(bad));
  }
  assert.equal(calls.length, 2, 'no bad payload reached the handler');

  // An async handler, the actionId form, and null schemas (any payload).
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { actionId: 'b-banana-stand:fill-with-money', data: [1, 2] }), { ok: true, response: { filled: [1, 2] } });
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'b-banana-stand:cash-register:open' } }), { ok: true, response: 'opened' });
  await ctl.close();
});

test('BatchTargetAction, CompactBatchTargetAction and ResendEmitterValue are answered by the SDK', async () => {
  const s = open();
  const calls: any[] = [];
  const b = bananaStand(s, 'c-', calls);
  await s.registered();
  const ctl = await TestClient.connect(ts.url);

  const batch = await command(ctl, 'BatchTargetAction', {
    actions: [
      { action: { id: 'c-banana-stand:burn' }, data: { intensity: 1 } },
      { action: { id: 'c-banana-stand:fill-with-money' }, data: 100 },
      { action: { id: 'c-banana-stand:burn' }, data: { intensity: 2 } },
    ],
  });
  assert.deepEqual(batch, {
    ok: true,
    response: { results: [{ instanceId: 'c-inst', ok: true, response: [{ burned: true, intensity: 1 }, { filled: 100 }, { burned: true, intensity: 2 }] }] },
  });
  // One failing entry: the others still run, and the failure names it.
  const partly = await command(ctl, 'BatchTargetAction', {
    actions: [
      { action: { id: 'c-banana-stand:burn' }, data: { intensity: 9 } },
      { action: { id: 'c-banana-stand:burn' }, data: { intensity: 4 } },
    ],
  });
  assert.equal(partly.ok, true);
  const r = (partly as any).response.results[0];
  assert.equal(r.ok, false);
  assert.match(r.error, /1 of 2 failed: actions\[0\]: too hot for the stand/);
  assert.equal(calls.at(-1).data.intensity, 4);

  const compact = await command(ctl, 'CompactBatchTargetAction', {
    groups: [
      {
        actionId: 'c-banana-stand:burn',
        payloads: [{ intensity: 5 }, { intensity: 6 }],
        assignments: [
          { instanceId: 'c-inst', targetId: 'c-banana-stand', payloadIndex: 1 },
          { instanceId: 'c-inst', targetId: 'c-banana-stand', payloadIndex: 0 },
        ],
      },
    ],
  });
  assert.deepEqual(compact, {
    ok: true,
    response: { results: [{ instanceId: 'c-inst', ok: true, response: [{ burned: true, intensity: 6 }, { burned: true, intensity: 5 }] }] },
  });
  assert.equal(calls.at(-1).ctx.commandId, 'CompactBatchTargetAction');
  assert.equal(calls.at(-1).ctx.targetId, 'c-banana-stand');

  // ResendEmitterValue: the last value goes out again.
  const pulses = view(ctl, 'GetPulsesByIds', 'Pulse', { ids: ['c-banana-stand:banana-sold'] });
  assert.deepEqual(await command(ctl, 'ResendEmitterValue', { emitterId: 'c-banana-stand:banana-sold' }), {
    ok: true,
    response: { emitterId: 'c-banana-stand:banana-sold', resent: false },
  });
  b.sold.pulse({ count: 7 });
  await pulses.until((m) => m.get('c-banana-stand:banana-sold')?.data?.count === 7);
  const before = pulses.responses;
  assert.deepEqual(await command(ctl, 'ResendEmitterValue', { emitterId: 'c-banana-stand:banana-sold' }), {
    ok: true,
    response: { emitterId: 'c-banana-stand:banana-sold', resent: true },
  });
  await pulses.until(() => pulses.responses > before);
  assert.equal(pulses.items.get('c-banana-stand:banana-sold').data.count, 7);
  await ctl.close();
});

test('pulses go out at once as SET Pulse {id: emitterId, emitterId, data, timestamp}', async () => {
  const s = open();
  const b = bananaStand(s, 'p-');
  await s.registered();
  const ctl = await TestClient.connect(ts.url);
  const pulses = view(ctl, 'GetPulsesByQuery', 'Pulse', { emitterId: 'p-banana-stand:banana-sold' });
  await pulses.until(() => true);
  const got: number[] = [];
  const done = new Promise<void>((resolve) => {
    ctl.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      for (const u of f.data?.upserts ?? []) if (u.item.emitterId === 'p-banana-stand:banana-sold') got.push(u.item.data.count);
      if (got.at(-1) === 20) resolve();
    });
  });
  const t0 = Date.now();
  for (let i = 1; i <= 20; i++) {
    assert.equal(b.sold.pulse({ count: i }), true);
    await sleep(2);
  }
  await done;
  assert.ok(Date.now() - t0 < 2000);
  assert.ok(got.length >= 2, 'each pulse is its own frame (the watcher may coalesce)');
  const p = ts.server.state.get('Pulse', 'p-banana-stand:banana-sold')!;
  assert.equal(p.emitterId, 'p-banana-stand:banana-sold');
  assert.equal(typeof p.timestamp, 'number');
  assert.equal(b.sold.last?.data && (b.sold.last.data as { count: number }).count, 20);
  await ctl.close();
});

test('reconciliation: statuses of this instance that name targets the session does not have are set offline', async () => {
  // A status left online by a connection the server no longer knows (an executor
  // that wrote an explicit clientId, a crashed cluster member, ...).
  const old = await TestClient.connect(ts.url);
  old.send({
    event: 'ws:m:event-batch',
    data: [
      { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 'r-popcorn-cart', instanceId: 'r-inst', status: 'online', clientId: 'ghost-client' } },
      { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 'r-banana-stand', instanceId: 'r-inst', status: 'online', clientId: 'ghost-client' } },
      { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 'r-other', instanceId: 'r-other-inst', status: 'online', clientId: 'ghost-client' } },
    ],
  });
  await old.sync();
  await old.close();
  assert.equal(ts.server.state.get('TargetStatus', 'r-inst:r-popcorn-cart')?.status, 'online');

  const s = open();
  bananaStand(s, 'r-');
  const info = await s.registered();
  assert.deepEqual(info.staleOffline, ['r-inst:r-popcorn-cart']);
  assert.equal(ts.server.state.get('TargetStatus', 'r-inst:r-popcorn-cart')?.status, 'offline', 'set offline before registered() resolved');
  assert.equal(ts.server.state.get('TargetStatus', 'r-inst:r-banana-stand')?.status, 'online');
  assert.equal(ts.server.state.get('TargetStatus', 'r-inst:r-banana-stand')?.clientId, s.clientId, 'taken over by the session');
  assert.equal(ts.server.state.get('TargetStatus', 'r-other-inst:r-other')?.status, 'online', 'other instances are not touched');
});

test('an instance added after connecting is sent at once and reconciled; registered() with nothing registered still resolves', async () => {
  const s = open();
  const empty = await s.registered();
  assert.equal(empty.items, 0);
  const old = await TestClient.connect(ts.url);
  old.send({ event: 'ws:m:event', data: { itemType: 'TargetStatus', changeType: 'SET', item: { targetId: 'l-gone', instanceId: 'l-inst', status: 'online', clientId: 'ghost-client' } } });
  await old.sync();
  await old.close();
  const ctl = await TestClient.connect(ts.url);
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'l-inst' });
  const b = bananaStand(s, 'l-');
  await statuses.until((m) => m.get('l-inst:l-gone')?.status === 'offline' && m.get('l-inst:l-banana-stand')?.status === 'online');
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'l-banana-stand:burn' }, data: { intensity: 1 } }), { ok: true, response: { burned: true, intensity: 1 } });
  // A target added later still goes out with its status, and its parent lists it.
  const late = b.stand.addTarget({ name: 'Napkins', bgColor: '#fff', fgColor: '#000' });
  await statuses.until((m) => m.get(`l-inst:${late.id}`)?.status === 'online');
  assert.deepEqual(ts.server.state.get('Target', 'l-banana-stand')?.subTargets, ['l-banana-stand:cash-register', 'l-banana-stand:napkins']);
  await ctl.close();
});

test('typed schemas: toJSONSchema() is published, parse() runs before the handler', async () => {
  const s = open();
  const inst = s.addInstance({ id: 'z-inst', name: 'Typed', serviceId: 'typed', serviceTypeCode: 'typed' });
  const t = inst.addTarget({ name: 'Dimmer', bgColor: '#fff', fgColor: '#000' });
  assert.equal(t.id, 'z-inst:dimmer', 'ids derive from names');
  const level = {
    toJSONSchema: () => ({ type: 'object', required: ['level'], properties: { level: { type: 'number' } } }),
    parse: (d: unknown) => {
      const v = (d as { level: number }).level;
      if (v > 1) throw new Error('level must be <= 1');
      return { level: v, percent: Math.round(v * 100) };
    },
  };
  t.addAction('Set level', level, (d) => d.percent); // d is typed from parse
  t.addAction('Raw', { jsonSchema: { type: 'object' } }, (d) => d);
  assert.throws(() => t.addAction('Set level', null, () => 1), /already used/);
  assert.throws(() => t.addAction('Bad', { parse: (x: unknown) => x }, () => 1), /toJSONSchema\(\) or jsonSchema/);
  assert.throws(() => t.addAction('Bad2', '{not json', () => 1), /not a JSON Schema/);
  assert.throws(() => inst.addTarget({ name: '!!!', bgColor: '#fff', fgColor: '#000' }), /explicit id/);
  await s.registered();
  assert.deepEqual(ts.server.state.get('Action', 'z-inst:dimmer:set-level')?.schema, level.toJSONSchema());
  const ctl = await TestClient.connect(ts.url);
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { actionId: 'z-inst:dimmer:set-level', data: { level: 0.5 } }), { ok: true, response: 50 });
  const rejected = await command(ctl, 'ExecTargetAction', { actionId: 'z-inst:dimmer:set-level', data: { level: 2 } });
  assert.deepEqual(rejected, { ok: false, code: 'RSHIP_BAD_PAYLOAD', message: 'payload rejected by action z-inst:dimmer:set-level (Set level): level must be <= 1' });
  assert.equal((await command(ctl, 'ExecTargetAction', { actionId: 'z-inst:dimmer:raw', data: { a: 1 } })).ok, true);
  await ctl.close();
});

test('close() sets the targets offline and the instance Unavailable, then disconnects', async () => {
  const s = open();
  const b = bananaStand(s, 'x-');
  await s.registered();
  const ctl = await TestClient.connect(ts.url);
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'x-inst' });
  const instances = view(ctl, 'GetInstancesByIds', 'Instance', { ids: ['x-inst'] });
  await statuses.until((m) => m.size === 2 && [...m.values()].every((x) => x.status === 'online'));
  const clientId = s.clientId!;
  await s.close();
  assert.equal(s.status.current.type, 'closed');
  await statuses.until((m) => [...m.values()].every((x) => x.status === 'offline'));
  await instances.until((m) => m.get('x-inst')?.status === 'Unavailable');
  for (let i = 0; i < 50 && ts.server.state.get('Client', clientId); i++) await sleep(20);
  assert.equal(ts.server.state.get('Client', clientId), undefined, 'disconnected');
  assert.equal(b.sold.pulse(1), false, 'a pulse after close is dropped');
  assert.throws(() => b.stand.addAction('late', () => 1), /closed/);
  await assert.rejects(s.registered(), /closed/);
  await s.close(); // again: no-op
  await ctl.close();
});

test('the executor connection drops in the middle of an action: the controller gets a clear error at once, not the timeout; the SDK comes back', async () => {
  // A transport that lets the test see the executor's socket, so the handler can drop it as a crash would.
  const sockets: TransportSocket[] = [];
  const s = open(ts.url, { transport: (url, h) => (sockets.push(nodeTransport(url, h)), sockets.at(-1)!) });
  const instance = s.addInstance({ id: 'd-inst', name: 'Dropper', serviceId: 'drop', serviceTypeCode: 'drop' });
  const stage = instance.addTarget({ id: 'd-stage', name: 'Stage', bgColor: '#000', fgColor: '#fff' });
  let started = 0;
  stage.addAction('fire', null, () => {
    started++;
    if (started > 1) return 'fired';
    sockets.at(-1)!.close(4000, 'executor crashed');
    return new Promise(() => {}); // never answers on this connection
  });
  const first = await s.registered();
  const ctl = await TestClient.connect(ts.url);

  const t0 = Date.now();
  const r = await command(ctl, 'ExecTargetAction', { action: { id: 'd-stage:fire' }, data: {} });
  const waited = Date.now() - t0;
  assert.deepEqual(r, { ok: false, code: 'RSHIP_TARGET_OFFLINE', message: 'action d-stage:fire on target d-stage (Stage): the executor disconnected' });
  assert.ok(waited < 1000, `answered after ${waited} ms (the action timeout is 3000 ms)`);
  assert.equal(started, 1);

  // The SDK reconnects and registers again; the target answers under its new clientId.
  await new Promise<void>((resolve) => {
    const off = s.onRegistered((info) => info.clientId !== first.clientId && (off(), resolve()));
  });
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'd-stage:fire' }, data: {} }), { ok: true, response: 'fired' });
  await ctl.close();
});

test('the SDK answers the 2023 name target:action:exec too (here the server sends it because the connection chose the seed dialect)', async () => {
  // The SDK speaks the current dialect; its seed-form query answers go unread, so no registered() and no reconciliation here.
  const s = open(`${ts.url}?dialect=seed`, { reconcile: false });
  const calls: any[] = [];
  bananaStand(s, 'sd-', calls);
  const ctl = await TestClient.connect(ts.url);
  const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'sd-inst' });
  await statuses.until((m) => m.get('sd-inst:sd-banana-stand')?.status === 'online');
  const clientId = ts.server.state.get('Instance', 'sd-inst')?.clientId as string;
  assert.equal(ts.server.state.get('Client', clientId)?.dialect, 'seed');

  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'sd-banana-stand:burn' }, data: { intensity: 2 } }), { ok: true, response: { burned: true, intensity: 2 } });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].ctx.commandId, 'target:action:exec', 'the handler ran for the 2023 command name');
  assert.equal(calls[0].ctx.stored.name, 'burn', 'with the whole stored Action');
  assert.equal(calls[0].ctx.instanceId, 'sd-inst');
  // The handler's error comes back the same way.
  assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'sd-banana-stand:burn' }, data: { intensity: 9 } }), { ok: false, code: 'TOO_HOT', message: 'too hot for the stand' });
  await ctl.close();
});

test('reconnect: after the server is killed (-9) and restarted, the SDK registers everything again under its new clientId', async () => {
  const dataDir = tempDir('rship-exec-');
  const port = await freePort();
  let srv = await spawnServer({ dataDir, port });
  try {
    const s = open(srv.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 250, jitter: 0 } });
    const b = bananaStand(s, 'k-');
    b.sold.pulse({ count: 41 });
    const infos: RegistrationInfo[] = [];
    s.onRegistered((i) => infos.push(i));
    const first = await s.registered();
    assert.equal(first.url, srv.url);

    srv.proc.kill('SIGKILL');
    await exited(srv.proc);
    await s.status.until((x) => x.type !== 'connected');
    assert.equal(s.isRegistered, false);
    b.sold.pulse({ count: 42 }); // while down: kept, sent after re-registering
    srv = await spawnServer({ dataDir, port });
    const deadline = Date.now() + 10_000;
    while (infos.length < 2 && Date.now() < deadline) await sleep(20);
    assert.equal(infos.length, 2, 'registered a second time');
    const second = infos[1]!;
    assert.notEqual(second.clientId, first.clientId);
    assert.equal(second.clientId, s.clientId);
    assert.equal(second.items, first.items);

    const ctl = await TestClient.connect(srv.url);
    const statuses = view(ctl, 'GetTargetStatussByQuery', 'TargetStatus', { instanceId: 'k-inst' });
    await statuses.until((m) => m.size === 2 && [...m.values()].every((x) => x.status === 'online' && x.clientId === second.clientId));
    const inst = view(ctl, 'GetInstancesByIds', 'Instance', { ids: ['k-inst'] });
    await inst.until((m) => m.get('k-inst')?.status === 'Available' && m.get('k-inst')?.clientId === second.clientId);
    const pulse = view(ctl, 'GetPulsesByIds', 'Pulse', { ids: ['k-banana-stand:banana-sold'] });
    await pulse.until((m) => m.get('k-banana-stand:banana-sold')?.data?.count === 42, 3000, 'the last pulse is re-sent');
    assert.deepEqual(await command(ctl, 'ExecTargetAction', { action: { id: 'k-banana-stand:burn' }, data: { intensity: 2 } }), {
      ok: true,
      response: { burned: true, intensity: 2 },
    });
    await ctl.close();
    await s.close();
  } finally {
    srv.proc.kill('SIGKILL');
    await exited(srv.proc);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('@myko/rship (entities and executor SDK) bundles for the browser without Node built-ins or ws', async () => {
  const nodeOnly = new Set(['ws', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const forbidNode: Plugin = {
    name: 'forbid-node',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => (nodeOnly.has(args.path) ? { errors: [{ text: `browser bundle imports ${args.path} (from ${args.importer})` }] } : undefined));
    },
  };
  const bundle = (file: string) =>
    build({ entryPoints: [fileURLToPath(new URL(file, import.meta.url))], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent', plugins: [forbidNode] });
  const out = await bundle('../index.js');
  const code = out.outputFiles[0]!.text;
  assert.ok(code.includes('ExecTargetAction') && code.includes('CompactBatchTargetAction'), 'with the command names it answers');
  assert.ok(/\bExecutorSession\b/.test(code) && code.includes('MykoClient'), 'the SDK and the client are in the bundle');
  assert.ok(!code.includes('better-sqlite3') && !code.includes('MykoServer'), 'no server code');
  await assert.rejects(bundle('./node.js'), /browser bundle imports ws/);
});
