import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { startTestServer, tempDir, sleep, TestClient, type TestServer, type AnyFrame } from '@myko/server/testing';
import { rshipPlugin } from './plugin.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [rshipPlugin({ actionTimeoutMs: 300 })] });
});
after(async () => {
  await ts.close();
});

const burnSchema = { type: 'object', required: ['intensity'], properties: { intensity: { type: 'number', minimum: 0 } } };

/** The Banana Stand of seed 001 as one event batch, the way executors register. */
function bananaStand(prefix: string, opts: { clientId?: string } = {}) {
  const c = opts.clientId ? { clientId: opts.clientId } : {};
  const ev = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item, createdAt: '2023-04-30T19:56:34Z', ...c });
  return [
    ev('Machine', { id: `${prefix}machine`, name: 'Stand PC' }),
    ev('Instance', { id: `${prefix}inst`, name: 'Bluth Executor', serviceId: 'bluth-company', serviceTypeCode: 'bluth', ...(opts.clientId ? { clientId: opts.clientId } : {}) }),
    ev('Action', { id: `${prefix}banana-stand:burn`, name: 'Burn', schema: JSON.stringify(burnSchema), targetId: `${prefix}banana-stand`, serviceId: 'bluth-company' }),
    ev('Action', { id: `${prefix}banana-stand:fill-with-money`, name: 'Fill with money', schema: null, targetId: `${prefix}banana-stand`, serviceId: 'bluth-company' }),
    ev('Emitter', { id: `${prefix}banana-stand:banana-sold`, name: 'Banana sold', targetId: `${prefix}banana-stand`, serviceId: 'bluth-company' }),
    ev('Target', {
      id: `${prefix}banana-stand`, hash: 'long-hash-string-of-some-kind', name: 'The Banana Stand',
      actionIds: [`${prefix}banana-stand:burn`, `${prefix}banana-stand:fill-with-money`], emitterIds: [`${prefix}banana-stand:banana-sold`],
      subTargets: ['cash-register'], serviceId: 'bluth-company', bgColor: '#ffff00', fgColor: '#000000', lastUpdated: '2023-04-30T19:56:34Z',
    }),
    ev('TargetStatus', { targetId: `${prefix}banana-stand`, instanceId: `${prefix}inst`, status: 'online' }),
  ];
}

const exec = (tx: string, actionId: string, data: unknown) => ({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx, action: { id: actionId }, data } } });
const statusOf = (f: AnyFrame, id: string) => f.data?.upserts?.find((u: any) => u.item.id === id)?.item.status;

/** An executor that answers actions as the Rust and Python SDKs do. */
function answerActions(executor: TestClient, commandId: string, answer: (cmd: any) => { response?: unknown; error?: string } | undefined) {
  executor.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:command' || f.data.commandId !== commandId) return;
    const out = answer(f.data.command);
    if (!out) return;
    if (out.error !== undefined) executor.send({ event: 'ws:m:command-error', data: { tx: f.data.command.tx, commandId, message: out.error } });
    else executor.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: out.response } });
  });
}

test('Banana Stand: register, invoke an action, get the executor result; bad payloads never reach it', async () => {
  const executor = await TestClient.connect(ts.url);
  const received: any[] = [];
  answerActions(executor, 'ExecTargetAction', (cmd) => {
    received.push(cmd);
    return cmd.data.intensity > 10 ? { error: 'too hot for the stand' } : { response: { burned: true, intensity: cmd.data.intensity } };
  });
  executor.send({ event: 'ws:m:event-batch', data: bananaStand('a-') });
  await executor.sync();

  const ctl = await TestClient.connect(ts.url);
  ctl.send({ event: 'ws:m:query', data: { queryId: 'GetAllTargets', queryItemType: 'Target', query: { tx: 'targets' } } });
  const targets = await ctl.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'targets');
  const stand = targets.data.upserts.find((u: any) => u.item.id === 'a-banana-stand').item;
  assert.equal(stand.hash, 'long-hash-string-of-some-kind');
  assert.deepEqual(stand.subTargets, ['cash-register']);

  ctl.send(exec('e1', 'a-banana-stand:burn', { intensity: 3 }));
  const ok = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'e1');
  assert.deepEqual(ok.data.response, { burned: true, intensity: 3 });
  assert.equal(received.length, 1);
  assert.equal(received[0].action.id, 'a-banana-stand:burn');
  assert.equal(received[0].action.name, 'Burn', 'the whole stored Action is forwarded');
  assert.equal(received[0].instanceId, 'a-inst');
  assert.ok(received[0].createdAt);

  // The executor's error comes back to the controller.
  ctl.send(exec('e2', 'a-banana-stand:burn', { intensity: 11 }));
  const failed = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'e2');
  assert.equal(failed.data.message, 'too hot for the stand');

  // A bad payload is rejected by the server, naming the field, and never forwarded.
  ctl.send(exec('e3', 'a-banana-stand:burn', { intensity: 'hot' }));
  const bad = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'e3');
  assert.equal(bad.data.code, 'RSHIP_BAD_PAYLOAD');
  assert.match(bad.data.message, /data\.intensity must be number/);
  ctl.send(exec('e4', 'a-banana-stand:burn', {}));
  const missing = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'e4');
  assert.match(missing.data.message, /data\.intensity is required/);
  assert.equal(received.length, 2);

  // Unknown action; action without schema accepts anything; actionId form.
  ctl.send(exec('e5', 'nope', {}));
  assert.equal((await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'e5')).data.code, 'RSHIP_UNKNOWN_ACTION');
  ctl.send({ event: 'ws:m:command', data: { commandId: 'ExecTargetAction', command: { tx: 'e6', actionId: 'a-banana-stand:fill-with-money', data: 'lots' } } });
  await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'e6');
  await executor.close();
  await ctl.close();
});

test('targets go offline when their executor disconnects, and come back when it resends', async () => {
  const watcher = await TestClient.connect(ts.url);
  watcher.send({ event: 'ws:m:query', data: { queryId: 'GetTargetStatussByQuery', queryItemType: 'TargetStatus', query: { tx: 'st', instanceId: 'b-inst' } } });
  watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllInstances', queryItemType: 'Instance', query: { tx: 'in' } } });
  await watcher.sync();
  const first = await TestClient.connect(ts.url);
  first.send({ event: 'ws:m:event-batch', data: bananaStand('b-') });
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'st' && statusOf(f, 'b-inst:b-banana-stand') === 'online');

  await first.close();
  const t0 = Date.now();
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'st' && statusOf(f, 'b-inst:b-banana-stand') === 'offline', 1000);
  assert.ok(Date.now() - t0 < 1000);
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'in' && statusOf(f, 'b-inst') === 'Unavailable', 1000);

  // While offline, an invocation fails clearly.
  const ctl = await TestClient.connect(ts.url);
  ctl.send(exec('off', 'b-banana-stand:burn', { intensity: 1 }));
  const off = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'off');
  assert.equal(off.data.code, 'RSHIP_TARGET_OFFLINE');
  assert.match(off.data.message, /The Banana Stand/);

  const again = await TestClient.connect(ts.url);
  answerActions(again, 'ExecTargetAction', () => ({ response: 'back' }));
  again.send({ event: 'ws:m:event-batch', data: bananaStand('b-') });
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'st' && statusOf(f, 'b-inst:b-banana-stand') === 'online', 1000, watcher.frames.length - 1);
  ctl.send(exec('on', 'b-banana-stand:burn', { intensity: 1 }));
  assert.equal((await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'on')).data.response, 'back');

  // An executor that never answers: a timeout error.
  const mute = await TestClient.connect(ts.url);
  mute.send({ event: 'ws:m:event-batch', data: bananaStand('m-') });
  await mute.sync();
  ctl.send(exec('mute', 'm-banana-stand:burn', { intensity: 1 }));
  const to = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'mute');
  assert.equal(to.data.code, 'MYKO_TIMEOUT');
  assert.equal(to.data.message, 'action m-banana-stand:burn on target m-banana-stand (The Banana Stand): the executor did not answer within 300 ms');
  await Promise.all([watcher.close(), ctl.close(), again.close(), mute.close()]);
});

test('2023 executors: client:setId, seed dialect, and target:action:exec', async () => {
  const old = await TestClient.connect(ts.url);
  const setId = await old.next((f) => f.event === 'ws:m:command' && f.data.commandId === 'client:setId');
  const clientId = setId.data.command.clientId;
  const seen: string[] = [];
  old.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command') seen.push(f.data.commandId);
  });
  const legacyCalls: any[] = [];
  answerActions(old, 'target:action:exec', (cmd) => {
    legacyCalls.push(cmd);
    return cmd.data?.intensity > 10 ? { error: 'too hot for the stand' } : { response: { legacy: true, got: cmd.data } };
  });
  for (const e of bananaStand('c-', { clientId })) old.send({ event: 'ws:m:event', data: e });
  await old.sync();
  const ctl = await TestClient.connect(ts.url);
  ctl.send(exec('x', 'c-banana-stand:burn', { intensity: 2 }));
  const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'x');
  assert.deepEqual(r.data.response, { legacy: true, got: { intensity: 2 } });
  // Batch for a 2023 executor is fanned out into target:action:exec calls.
  ctl.send({ event: 'ws:m:command', data: { commandId: 'BatchTargetAction', command: { tx: 'bx', actions: [
    { action: { id: 'c-banana-stand:burn' }, data: { intensity: 1 } },
    { action: { id: 'c-banana-stand:fill-with-money' }, data: 5 },
  ] } } });
  const b = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'bx');
  assert.equal(b.data.response.results.length, 1);
  assert.equal(b.data.response.results[0].ok, true);
  assert.equal(b.data.response.results[0].response.length, 2);

  // A compact batch too: one target:action:exec per assignment, with its payload and the whole stored Action, results in order.
  legacyCalls.length = 0;
  const compact = (tx: string, burnPayloads: unknown[], burnAssign: number[]) => ({ event: 'ws:m:command', data: { commandId: 'CompactBatchTargetAction', command: { tx, groups: [
    { actionId: 'c-banana-stand:burn', payloads: burnPayloads, assignments: burnAssign.map((payloadIndex) => ({ instanceId: 'c-inst', targetId: 'c-banana-stand', payloadIndex })) },
    { actionId: 'c-banana-stand:fill-with-money', payloads: ['lots'], assignments: [{ instanceId: 'c-inst', targetId: 'c-banana-stand', payloadIndex: 0 }] },
  ] } } });
  ctl.send(compact('cx', [{ intensity: 1 }, { intensity: 2 }], [1, 0]));
  const cx = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'cx');
  assert.deepEqual(cx.data.response.results, [{ instanceId: 'c-inst', ok: true, response: [
    { legacy: true, got: { intensity: 2 } },
    { legacy: true, got: { intensity: 1 } },
    { legacy: true, got: 'lots' },
  ] }]);
  assert.deepEqual(legacyCalls.map((c) => [c.action.id, c.action.name, c.instanceId, c.targetId, c.data]), [
    ['c-banana-stand:burn', 'Burn', 'c-inst', 'c-banana-stand', { intensity: 2 }],
    ['c-banana-stand:burn', 'Burn', 'c-inst', 'c-banana-stand', { intensity: 1 }],
    ['c-banana-stand:fill-with-money', 'Fill with money', 'c-inst', 'c-banana-stand', 'lots'],
  ]);
  // Every entry runs; a failed one fails the instance's result, naming the entry as the SDK does.
  ctl.send(compact('cy', [{ intensity: 1 }, { intensity: 11 }], [0, 1]));
  const cy = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'cy');
  assert.deepEqual(cy.data.response.results, [{ instanceId: 'c-inst', ok: false, error: '1 of 3 failed: groups[0].assignments[1]: too hot for the stand' }]);
  assert.equal(legacyCalls.length, 6);

  // The 2023 API cannot resend an emitter's value: refused at once, with the reason, never sent.
  ctl.send({ event: 'ws:m:command', data: { commandId: 'ResendEmitterValue', command: { tx: 'rx', emitterId: 'c-banana-stand:banana-sold' } } });
  const rx = await ctl.next((f) => (f.event === 'ws:m:command-error' || f.event === 'ws:m:command-response') && f.data.tx === 'rx');
  assert.equal(rx.event, 'ws:m:command-error');
  assert.equal(rx.data.code, 'RSHIP_UNSUPPORTED_BY_EXECUTOR');
  assert.match(rx.data.message, /instance c-inst speaks the 2023 \(seed\) dialect, which has no command to resend emitter c-banana-stand:banana-sold/);
  await old.sync();
  assert.deepEqual([...new Set(seen)], ['target:action:exec'], 'nothing but target:action:exec reached the 2023 executor');
  await old.close();
  await ctl.close();
});

test('batch forms are forwarded to the owning executors; a bad entry rejects the batch', async () => {
  const ex = await TestClient.connect(ts.url);
  const batches: any[] = [];
  answerActions(ex, 'BatchTargetAction', (cmd) => (batches.push(cmd), { response: cmd.actions.length }));
  answerActions(ex, 'CompactBatchTargetAction', (cmd) => ({ response: cmd.groups[0].assignments.length }));
  answerActions(ex, 'ResendEmitterValue', (cmd) => ({ response: cmd.emitterId }));
  ex.send({ event: 'ws:m:event-batch', data: bananaStand('d-') });
  await ex.sync();
  const ctl = await TestClient.connect(ts.url);
  ctl.send({ event: 'ws:m:command', data: { commandId: 'BatchTargetAction', command: { tx: 'b1', actions: [
    { action: { id: 'd-banana-stand:burn' }, data: { intensity: 1 } },
    { action: { id: 'd-banana-stand:burn' }, data: { intensity: 2 } },
  ] } } });
  const b1 = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'b1');
  assert.deepEqual(b1.data.response.results, [{ instanceId: 'd-inst', ok: true, response: 2 }]);
  assert.equal(batches[0].actions[1].action.name, 'Burn');

  ctl.send({ event: 'ws:m:command', data: { commandId: 'BatchTargetAction', command: { tx: 'b2', actions: [
    { action: { id: 'd-banana-stand:burn' }, data: { intensity: 1 } },
    { action: { id: 'd-banana-stand:burn' }, data: { intensity: -1 } },
  ] } } });
  const b2 = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'b2');
  assert.match(b2.data.message, /actions\[1\]\.data\.intensity must be >= 0/);
  assert.equal(batches.length, 1);

  ctl.send({ event: 'ws:m:command', data: { commandId: 'CompactBatchTargetAction', command: { tx: 'c1', groups: [
    { actionId: 'd-banana-stand:burn', payloads: [{ intensity: 1 }], assignments: [{ instanceId: 'd-inst', targetId: 'd-banana-stand', payloadIndex: 0 }] },
  ] } } });
  const c1 = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'c1');
  assert.deepEqual(c1.data.response.results, [{ instanceId: 'd-inst', ok: true, response: 1 }]);
  // Two groups of the same action stay two groups: each assignment's payloadIndex points into its own group's payloads.
  const compacts: any[] = [];
  answerActions(ex, 'CompactBatchTargetAction', (cmd) => void compacts.push(cmd));
  ctl.send({ event: 'ws:m:command', data: { commandId: 'CompactBatchTargetAction', command: { tx: 'c2', groups: [
    { actionId: 'd-banana-stand:burn', payloads: [{ intensity: 1 }], assignments: [{ instanceId: 'd-inst', targetId: 'd-banana-stand', payloadIndex: 0 }] },
    { actionId: 'd-banana-stand:burn', payloads: [{ intensity: 7 }, { intensity: 8 }], assignments: [{ instanceId: 'd-inst', targetId: 'd-banana-stand', payloadIndex: 1 }] },
  ] } } });
  await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'c2');
  assert.deepEqual(
    compacts[0].groups.map((g: any) => g.assignments.map((a: any) => g.payloads[a.payloadIndex])),
    [[{ intensity: 1 }], [{ intensity: 8 }]],
  );

  ctl.send({ event: 'ws:m:command', data: { commandId: 'ResendEmitterValue', command: { tx: 'r1', emitterId: 'd-banana-stand:banana-sold' } } });
  assert.equal((await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'r1')).data.response, 'd-banana-stand:banana-sold');
  await ex.close();
  await ctl.close();
});

test('entities are validated with clear errors; unknown fields are kept; pulses are not logged', async () => {
  const c = await TestClient.connect(ts.url);
  // Missing colours are defaulted (lenient-entities.int.test.ts); a wrong type is refused.
  c.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', item: { id: 't', name: 'T', serviceId: 's', actionIds: [], emitterIds: [], bgColor: '#fff', fgColor: 0 } } });
  const e = await c.next((f) => f.event === 'ws:m:error');
  assert.equal(e.data.code, 'MYKO_BAD_EVENT');
  assert.match(e.data.message, /fgColor must be string/);
  c.send({ event: 'ws:m:event', data: { itemType: 'Emitter', changeType: 'SET', item: { id: 'em', name: 'E', targetId: 't', serviceId: 's', vendorField: { x: 1 } } } });
  await c.sync();
  const before = ts.server.writer.position;
  for (let i = 0; i < 100; i++) c.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { emitterId: 'em', data: { v: i } } } });
  await c.sync();
  assert.deepEqual(ts.server.state.get('Emitter', 'em')?.vendorField, { x: 1 });
  assert.deepEqual(ts.server.state.get('Pulse', 'em')?.data, { v: 99 });
  // Not `position === before`: the server may retire an earlier test's connection meanwhile (its Client
  // DEL, its Instance Unavailable, its TargetStatus offline, written after a writer barrier): logged, but
  // not pulses. None of what was logged is a Pulse.
  const logged = await ts.server.store.readAfter(before, 1000);
  assert.deepEqual(logged.filter((e) => e.itemType === 'Pulse').map((e) => e.item), [], 'the 100 pulses did not reach the log');
  await c.close();
});

test('an executor that chooses the seed dialect explicitly (?dialect=seed or subprotocol myko.seed) gets target:action:exec without echoing clientId', async () => {
  const ctl = await TestClient.connect(ts.url);
  for (const [prefix, connect] of [
    ['q-', () => TestClient.connect(`${ts.url}?dialect=seed`)],
    ['p-', () => TestClient.connect(ts.url, { protocols: ['myko.seed'] })],
  ] as const) {
    const ex = await connect();
    const commands: string[] = [];
    ex.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString());
      if (f.event === 'ws:m:command') commands.push(f.data.commandId);
    });
    answerActions(ex, 'target:action:exec', (cmd) => ({ response: { via: 'target:action:exec', data: cmd.data, action: cmd.action.name } }));
    ex.send({ event: 'ws:m:event-batch', data: bananaStand(prefix) });
    await ex.sync();
    assert.equal(ts.server.state.get('Client', ex.clientId!)?.dialect, 'seed', `${prefix}: the Client item records the dialect`);
    ctl.send(exec(`${prefix}x`, `${prefix}banana-stand:burn`, { intensity: 4 }));
    const r = await ctl.next((f) => f.event === 'ws:m:command-response' && f.data.tx === `${prefix}x`);
    assert.deepEqual(r.data.response, { via: 'target:action:exec', data: { intensity: 4 }, action: 'Burn' });
    assert.deepEqual(commands, ['target:action:exec'], `${prefix}: no ExecTargetAction was sent`);
    await ex.close();
  }
  await ctl.close();
});

test('a target whose executor never set a TargetStatus is offline: ExecTargetAction gives the offline error', async () => {
  const ex = await TestClient.connect(ts.url);
  let reached = 0;
  answerActions(ex, 'ExecTargetAction', () => (reached++, { response: 'should not run' }));
  ex.send({ event: 'ws:m:event-batch', data: bananaStand('n-').filter((e) => e.itemType !== 'TargetStatus') });
  await ex.sync();
  assert.ok(ts.server.state.get('Target', 'n-banana-stand'), 'the target is registered');
  assert.equal(ts.server.state.lookup('TargetStatus', 'targetId', 'n-banana-stand').size, 0, 'no status was ever set');
  const ctl = await TestClient.connect(ts.url);
  ctl.send(exec('n', 'n-banana-stand:burn', { intensity: 1 }));
  const off = await ctl.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'n');
  assert.equal(off.data.code, 'RSHIP_TARGET_OFFLINE');
  assert.equal(off.data.message, 'target n-banana-stand (The Banana Stand) is offline: no connected executor has it online');
  assert.equal(reached, 0);
  await Promise.all([ex.close(), ctl.close()]);
});

test('every entity type names its missing required fields', async () => {
  // TargetStatus and Pulse as the seed sends them: without id (derived from instanceId:targetId and emitterId).
  const valid: Record<string, Record<string, unknown>> = {
    Instance: { id: 'v-inst', name: 'I', serviceId: 's', serviceTypeCode: 'x' },
    Target: { id: 'v-t', name: 'T', serviceId: 's', actionIds: [], emitterIds: [], bgColor: '#fff', fgColor: '#000' },
    TargetStatus: { targetId: 'v-t', instanceId: 'v-inst', status: 'online' },
    Action: { id: 'v-a', name: 'A', schema: null, targetId: 'v-t', serviceId: 's' },
    Emitter: { id: 'v-e', name: 'E', targetId: 'v-t', serviceId: 's' },
    Pulse: { emitterId: 'v-e', data: 1 },
    Machine: { id: 'v-m', name: 'M' },
    Service: { id: 'v-s', name: 'S' },
  };
  const required: [itemType: string, field: string][] = [
    ['Instance', 'name'], ['Instance', 'serviceId'], ['Instance', 'serviceTypeCode'], ['Instance', 'id'],
    ['Target', 'name'], ['Target', 'serviceId'],
    ['TargetStatus', 'status'], ['TargetStatus', 'instanceId'], ['TargetStatus', 'targetId'],
    ['Action', 'name'], ['Action', 'targetId'], ['Action', 'serviceId'],
    ['Emitter', 'name'], ['Emitter', 'targetId'], ['Emitter', 'serviceId'],
    ['Pulse', 'emitterId'],
    ['Machine', 'name'], ['Machine', 'id'],
    ['Service', 'name'], ['Service', 'id'],
  ];
  const c = await TestClient.connect(ts.url);
  for (const [itemType, field] of required) {
    const { [field]: _dropped, ...item } = valid[itemType]!;
    const tx = `${itemType}-${field}`;
    c.send({ event: 'ws:m:event', data: { itemType, changeType: 'SET', tx, item } });
    const e = await c.next((f) => f.event === 'ws:m:error' && f.data.tx === tx);
    assert.equal(e.data.code, 'MYKO_BAD_EVENT', tx);
    assert.match(e.data.message, new RegExp(`\\bitem\\.${field} is required$`), `${tx}: ${e.data.message}`);
  }
  // The complete items are accepted (ids derived where left out).
  c.send({ event: 'ws:m:event-batch', data: Object.entries(valid).map(([itemType, item]) => ({ itemType, changeType: 'SET', item })) });
  await c.sync();
  const ids: Record<string, string> = { TargetStatus: 'v-inst:v-t', Pulse: 'v-e' };
  for (const [itemType, item] of Object.entries(valid)) assert.ok(ts.server.state.get(itemType, ids[itemType] ?? (item.id as string)), itemType);
  assert.equal(c.all('ws:m:error').length, required.length, 'only the incomplete items were refused');
  await c.close();
});

test('persistPulses: true writes every pulse to the log (position, history, kept over a restart); by default none is written', async () => {
  for (const persistPulses of [true, false]) {
    const dataDir = tempDir('rship-pulses-');
    try {
      const first = await startTestServer({ dataDir, plugins: [rshipPlugin({ persistPulses })] });
      const c = await TestClient.connect(first.url);
      // With its Target: an emitter whose target never came is an orphan, removed at the next start (relations/repair.ts).
      c.send({ event: 'ws:m:event', data: { itemType: 'Target', changeType: 'SET', item: { id: 't', name: 'T', serviceId: 's', actionIds: [], emitterIds: ['pe'], bgColor: '#000', fgColor: '#fff' } } });
      c.send({ event: 'ws:m:event', data: { itemType: 'Emitter', changeType: 'SET', item: { id: 'pe', name: 'E', targetId: 't', serviceId: 's' } } });
      await c.sync();
      const before = first.server.writer.position;
      for (let i = 0; i < 50; i++) c.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { emitterId: 'pe', data: { v: i } } } });
      await c.sync();
      assert.deepEqual(first.server.state.get('Pulse', 'pe')?.data, { v: 49 }, 'the latest pulse is current either way');
      assert.equal(first.server.writer.position - before, persistPulses ? 50 : 0, `persistPulses ${persistPulses}: events written`);
      const history = await (await fetch(first.url.replace(/^ws/, 'http').replace(/\/myko$/, '/api/history/Pulse/pe'))).json();
      assert.equal(history.persisted, persistPulses);
      assert.deepEqual(history.current.data, { v: 49 });
      assert.equal(history.events.length, persistPulses ? 50 : 0);
      if (persistPulses) assert.deepEqual(history.events.map((e: any) => e.item.data.v), Array.from({ length: 50 }, (_, i) => i));
      await c.close();
      await first.close();

      // Only a logged pulse outlives the process; the Emitter is logged either way.
      const second = await startTestServer({ dataDir, plugins: [rshipPlugin({ persistPulses })] });
      assert.ok(second.server.state.get('Emitter', 'pe'));
      assert.deepEqual(second.server.state.get('Pulse', 'pe')?.data, persistPulses ? { v: 49 } : undefined);
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
});

test('a burst of 2,000 pulses meets a watcher that does not read: it gets the latest value in a frame or two, and the server buffers nothing more for it', async () => {
  // A small high-water mark keeps the pipe filler small; the mechanism is the same at the default 1 MB.
  const highWater = 64 * 1024;
  const s = await startTestServer({ plugins: [rshipPlugin()], config: { sendHighWaterBytes: highWater } });
  try {
    const emitter = await TestClient.connect(s.url);
    emitter.send({ event: 'ws:m:event', data: { itemType: 'Emitter', changeType: 'SET', item: { id: 'burst', name: 'Fader', targetId: 't', serviceId: 's' } } });
    await emitter.sync();
    const fast = await TestClient.connect(s.url);
    const slow = await TestClient.connect(s.url);
    for (const w of [fast, slow]) {
      w.send({ event: 'ws:m:query', data: { queryId: 'GetAllPulses', queryItemType: 'Pulse', query: { tx: 'pulses' } } });
      await w.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'pulses');
    }
    slow.send({ event: 'ws:m:query', data: { queryId: 'GetAllMachines', queryItemType: 'Machine', query: { tx: 'filler' } } });
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'filler');
    const conn = s.server.connections.get(slow.clientId!)!;

    // The watcher stops reading. The operating system's socket buffers (megabytes on loopback) take
    // frames before the server sees any backpressure, so first fill them with bulky Machine items: the
    // burst then meets a full pipe, as it would on a slow link, rather than disappearing into the kernel.
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const bulk = 'x'.repeat(256 * 1024);
    for (let i = 0; !conn.congested(); i++) {
      assert.ok(i < 100, 'the pipe filled up within 25 MB');
      emitter.send({ event: 'ws:m:event', data: { itemType: 'Machine', changeType: 'SET', item: { id: `filler-${i}`, name: 'filler', bulk } } });
      await emitter.sync();
    }
    const framesBefore = conn.stats.framesOut;
    const bufferedBefore = conn.ws.bufferedAmount;
    let bufferedMax = bufferedBefore;

    // 2,000 pulses, 4 per millisecond: each few pulses commit on their own, so a watcher that reads gets hundreds of frames.
    const burst = 2000;
    for (let i = 0; i < burst; i++) {
      emitter.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { emitterId: 'burst', data: { v: i, at: Date.now() } } } });
      if (i % 4 === 3) {
        await sleep(1);
        bufferedMax = Math.max(bufferedMax, conn.ws.bufferedAmount);
      }
    }
    await emitter.sync();
    await fast.sync();
    const fastFrames = fast.all('ws:m:query-response', 'pulses').slice(1);
    assert.deepEqual(fastFrames.at(-1)!.data.upserts[0].item.data.v, burst - 1);
    assert.ok(fastFrames.length >= 100, `the reading watcher got ${fastFrames.length} frames: the burst was not one commit`);
    const framesDuringBurst = conn.stats.framesOut - framesBefore;
    assert.ok(framesDuringBurst <= 1, `the server wrote ${framesDuringBurst} frames for the stalled watcher during the burst`);
    assert.ok(bufferedMax - bufferedBefore < 4096, `its send buffer grew by ${bufferedMax - bufferedBefore} bytes during the burst`);

    // It reads again: the filler, then the newest pulse, not the 2,000.
    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'pulses' && f.data.upserts.some((u: any) => u.item.data.v === burst - 1), 10_000);
    await slow.sync();
    const slowFrames = slow.all('ws:m:query-response', 'pulses').slice(1);
    assert.ok(slowFrames.length <= 2, `the stalled watcher got ${slowFrames.length} pulse frames for ${burst} pulses`);
    assert.equal(slowFrames.at(-1)!.data.upserts[0].item.data.v, burst - 1);
    assert.deepEqual(s.server.state.get('Pulse', 'burst')?.data, slowFrames.at(-1)!.data.upserts[0].item.data, 'the server holds the same latest value');
    await Promise.all([emitter.close(), fast.close(), slow.close()]);
  } finally {
    await s.close();
  }
});
