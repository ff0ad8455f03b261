import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sleep, type TestServer } from '../testing/index.js';
import { JsonClient, type AnyMessage, eventRpcEnvelope } from '../testing/json-client.js';
import { defineCommand, definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'eventrpc-test',
  itemTypes: [{ name: 'Order', schema: { type: 'object', required: ['id', 'total'], properties: { total: { type: 'number' } } } }],
  commands: [
    defineCommand<{ aggregateId?: unknown; total?: unknown }, { id: string; total: number }>({
      id: 'PlaceOrder',
      schema: { type: 'object', required: ['aggregateId', 'total'], properties: { aggregateId: { type: 'string' }, total: { type: 'number', minimum: 0 } } },
      async handler(p, ctx) {
        const id = String(p.aggregateId).replace(/^Order\//, '');
        await ctx.emit({ itemType: 'Order', changeType: 'SET', item: { id, total: p.total as number } });
        return { id, total: p.total as number };
      },
    }),
    defineCommand({ id: 'BigAnswer', handler: () => 10n }),
    defineCommand({
      id: 'Explode',
      handler: () => {
        throw new Error('the kitchen is on fire');
      },
    }),
  ],
});

let ts: TestServer;
let url: string;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
  url = ts.server.url('/eventrpc');
});
after(async () => {
  await ts.close();
});

const envelope = eventRpcEnvelope;
const result = (cid: string | null) => (m: AnyMessage) => m.type === 'result' && m['correlation-id'] === cid;
const update = (cid: string, pred: (p: AnyMessage) => boolean = () => true) => (m: AnyMessage) =>
  m.type === 'update' && m['correlation-id'] === cid && pred(m.payload);

test('every reply is an envelope with the server version, app-name, app-id and the request correlation-id', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('command', { id: 'Order/o0', type: 'PlaceOrder', data: { total: 1 } }, 'env-1'));
  const r = await c.next(result('env-1'));
  assert.equal(r.version, 'v0.0.1');
  assert.equal(r['app-name'], 'myko');
  assert.equal(r['app-id'], ts.server.serverId);
  assert.ok(Number.isInteger(r.timestamp) && Math.abs(r.timestamp - Date.now() / 1000) < 5, 'unix seconds');
  assert.deepEqual(r.meta, {});
  assert.deepEqual(r.payload, { status: 'ok', data: { id: 'o0', total: 1 } });
  await c.close();
});

test('command: ok with a plugin command (id passed as aggregateId), failed when its handler throws, rejected on bad params or an unknown command', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('command', { id: 'Order/o1', type: 'PlaceOrder', data: { total: 12.5 } }, 'ok-1'));
  assert.deepEqual((await c.next(result('ok-1'))).payload, { status: 'ok', data: { id: 'o1', total: 12.5 } });
  assert.equal(ts.server.state.get('Order', 'o1')?.total, 12.5);

  c.send(envelope('command', { id: 'Order/o1', type: 'Explode', data: {} }, 'fail-1'));
  assert.deepEqual((await c.next(result('fail-1'))).payload, { status: 'failed', errors: ['the kitchen is on fire'], code: 'MYKO_COMMAND_FAILED' });

  c.send(envelope('command', { id: 'Order/o1', type: 'PlaceOrder', data: { total: -1 } }, 'rej-1'));
  const bad = (await c.next(result('rej-1'))).payload;
  assert.equal(bad.status, 'rejected');
  assert.equal(bad.code, 'MYKO_BAD_COMMAND');
  assert.match(bad.errors[0], /total/);

  c.send(envelope('command', { id: 'Order/o1', type: 'NoSuchCommand', data: {} }, 'rej-2'));
  const unknown = (await c.next(result('rej-2'))).payload;
  assert.equal(unknown.status, 'rejected');
  assert.equal(unknown.code, 'MYKO_UNKNOWN_COMMAND');

  c.send(envelope('command', { id: 'Order/o1', type: 'PlaceOrder' }, 'rej-3'));
  const noData = (await c.next(result('rej-3'))).payload;
  assert.equal(noData.status, 'rejected');
  assert.match(noData.errors[0], /payload\.data is required/);
  c.send(envelope('command', { id: 'x', type: 'BigAnswer', data: {} }, 'fail-2'));
  const big = (await c.next(result('fail-2'))).payload;
  assert.deepEqual([big.status, big.code], ['failed', 'MYKO_COMMAND_FAILED']);
  assert.match(big.errors[0], /not JSON/);
  await sleep(30);
  for (const cid of ['ok-1', 'fail-1', 'fail-2', 'rej-1', 'rej-2', 'rej-3']) assert.equal(c.all(result(cid)).length, 1, `exactly one result for ${cid}`);
  await c.close();
});

test('built-in SET / DEL commands write the aggregate through the event path, validated', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('command', { id: 'Order/s1', type: 'SET', data: { total: 3 } }, 'set-1'));
  const r = (await c.next(result('set-1'))).payload;
  assert.equal(r.status, 'ok');
  assert.equal(r.data.id, 's1');
  assert.equal(typeof r.data.hash, 'string');
  assert.equal(ts.server.state.get('Order', 's1')?.total, 3);
  c.send(envelope('command', { id: 'Order/s2', type: 'SET', data: { total: 'three' } }, 'set-2'));
  const refused = (await c.next(result('set-2'))).payload;
  assert.deepEqual([refused.status, refused.code], ['rejected', 'MYKO_BAD_EVENT']);
  c.send(envelope('command', { id: 'no-slash', type: 'SET', data: {} }, 'set-3'));
  assert.equal((await c.next(result('set-3'))).payload.status, 'rejected');
  c.send(envelope('command', { id: 'Order/s1', type: 'SET', data: { id: 'other', total: 1 } }, 'set-4'));
  assert.match((await c.next(result('set-4'))).payload.errors[0], /differs/);
  c.send(envelope('command', { id: 'Order/s1', type: 'DEL', data: {} }, 'del-1'));
  assert.equal((await c.next(result('del-1'))).payload.status, 'ok');
  assert.equal(ts.server.state.get('Order', 's1'), undefined);
  await c.close();
});

test('aggregate subscription: acknowledged, snapshot first, then an update per change with the aggregate version; unsubscribe ends it', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/a1' }, 'agg'));
  assert.deepEqual((await c.next(result('agg'))).payload, { status: 'ok' });
  const snap = await c.next(update('agg'));
  assert.deepEqual({ ...snap.payload, timestamp: 0 }, { timestamp: 0, version: 0, id: 'Order/a1', name: 'Order', data: null });
  assert.ok(c.messages.indexOf(snap) > c.messages.findIndex(result('agg')), 'the ack comes before the snapshot');

  const w = await JsonClient.connect(url);
  const cmd = (cid: string, type: string, data: object) => w.send(envelope('command', { id: 'Order/a1', type, data }, cid));
  cmd('w1', 'SET', { total: 1 });
  const u1 = await c.next(update('agg', (p) => p.version === 1));
  assert.deepEqual([u1.payload.data.total, u1.payload.name, u1.payload.id], [1, 'Order', 'Order/a1']);
  await w.next(result('w1'));
  cmd('w2', 'SET', { total: 1 }); // equal: stored, so it counts, but the state did not change: no update
  await w.next(result('w2'));
  cmd('w3', 'SET', { total: 2 });
  assert.equal((await c.next(update('agg', (p) => p.version === 3))).payload.data.total, 2);
  cmd('w4', 'DEL', {});
  assert.equal((await c.next(update('agg', (p) => p.version === 4))).payload.data, null);
  cmd('w5', 'SET', { total: 5 });
  assert.equal((await c.next(update('agg', (p) => p.version === 5))).payload.data.total, 5, 'a re-created aggregate goes on counting');
  assert.equal(c.all(update('agg')).length, 5);
  assert.equal(await ts.server.store.countHistory('Order', 'a1'), 5, 'the version is the stored event count');

  // A second subscription to the same aggregate starts from the current version.
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/a1' }, 'agg-2'));
  assert.equal((await c.next(update('agg-2'))).payload.version, 5);

  c.send(envelope('unsubscribe', {}, 'agg'));
  assert.deepEqual((await c.nextNew(result('agg'))).payload, { status: 'ok' });
  c.send(envelope('unsubscribe', { 'correlation-id': 'agg-2' }, 'bye'));
  assert.deepEqual((await c.next(result('bye'))).payload, { status: 'ok' });
  c.send(envelope('unsubscribe', { 'correlation-id': 'agg-2' }, 'bye-again'));
  const again = (await c.next(result('bye-again'))).payload;
  assert.equal(again.status, 'rejected');
  assert.match(again.errors[0], /no live subscription/);

  const count = c.messages.length;
  cmd('w6', 'SET', { total: 6 });
  await w.next(result('w6'));
  await sleep(50);
  assert.equal(c.messages.slice(count).filter((m) => m.type === 'update').length, 0, 'no update after unsubscribe');
  await w.close();
  await c.close();
});

test('projection subscriptions: a Myko query with params (sorted array) and a report (its value)', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('subscribe', { to: 'projection', id: 'GetOrdersByQuery/Order', params: { total: 100 } }, 'big'));
  c.send(envelope('subscribe', { to: 'projection', id: 'GetOrdersCount' }, 'count'));
  const first = await c.next(update('big'));
  assert.deepEqual([first.payload.version, first.payload.name, first.payload.id, first.payload.data], [1, 'GetOrdersByQuery/Order', 'GetOrdersByQuery/Order', []]);
  const count0 = (await c.next(update('count'))).payload;
  assert.equal(count0.version, 1);
  assert.equal(typeof count0.data, 'number');

  await ts.server.emit([
    { itemType: 'Order', changeType: 'SET', item: { id: 'p2', total: 100 } },
    { itemType: 'Order', changeType: 'SET', item: { id: 'p1', total: 100 } },
    { itemType: 'Order', changeType: 'SET', item: { id: 'p3', total: 5 } },
  ]);
  const big = await c.next(update('big', (p) => p.data.length === 2));
  assert.deepEqual(big.payload.data.map((o: { id: string }) => o.id), ['p1', 'p2']);
  assert.equal(big.payload.version, 2);
  assert.equal((await c.next(update('count', (p) => p.data === count0.data + 3))).payload.version, 2);

  c.send(envelope('subscribe', { to: 'projection', id: 'NoSuchReport' }, 'nope'));
  const nope = (await c.next(result('nope'))).payload;
  assert.deepEqual([nope.status, nope.code], ['rejected', 'MYKO_UNKNOWN_REPORT']);
  c.send(envelope('subscribe', { to: 'projection', id: 'CountItems' }, 'badreport'));
  const br = (await c.next(result('badreport'))).payload;
  assert.deepEqual([br.status, br.code], ['rejected', 'MYKO_BAD_REPORT']);
  assert.match(br.errors[0], /itemType/);
  c.send(envelope('subscribe', { to: 'projection', id: 'GetOrdersByIds/Order', params: { ids: 'p1' } }, 'badparams'));
  const bp = (await c.next(result('badparams'))).payload;
  assert.deepEqual([bp.status, bp.code], ['rejected', 'MYKO_BAD_QUERY']);
  assert.match(bp.errors[0], /ids/);
  await c.close();
  await ts.server.emit(['p1', 'p2', 'p3'].map((id) => ({ itemType: 'Order', changeType: 'DEL' as const, item: { id } })));
});

test('event subscriptions: every event of an aggregate, or only those named by event-name', async () => {
  const c = await JsonClient.connect(url);
  c.send(envelope('subscribe', { to: 'event', id: 'Order/e1' }, 'all'));
  c.send(envelope('subscribe', { to: 'event', id: 'Order/e1', 'event-name': 'DEL' }, 'dels'));
  await c.next(result('all'));
  await c.next(result('dels'));
  await ts.server.emit({ itemType: 'Order', changeType: 'SET', item: { id: 'e1', total: 1 } });
  await ts.server.emit({ itemType: 'Order', changeType: 'SET', item: { id: 'e2', total: 1 } }); // another aggregate
  await ts.server.emit({ itemType: 'Order', changeType: 'DEL', item: { id: 'e1' } });
  const set = await c.next(update('all', (p) => p.name === 'SET'));
  assert.equal(set.payload.version, 1);
  assert.equal(set.payload.id, 'Order/e1');
  assert.deepEqual([set.payload.data.itemType, set.payload.data.changeType, set.payload.data.item.total], ['Order', 'SET', 1]);
  assert.ok(set.payload.data.position > 0, 'the stored event, with its log position');
  assert.equal(set.payload.timestamp, Math.floor(Date.parse(set.payload.data.createdAt) / 1000));
  const del = await c.next(update('all', (p) => p.name === 'DEL'));
  assert.equal(del.payload.version, 2);
  const onlyDel = await c.next(update('dels'));
  assert.equal(onlyDel.payload.name, 'DEL');
  await sleep(30);
  assert.equal(c.all(update('all')).length, 2);
  assert.equal(c.all(update('dels')).length, 1);
  await c.close();
});

test('bad envelopes, payloads and types are rejected with the correlation-id when readable; the connection stays up', async () => {
  const c = await JsonClient.connect(url);
  c.send('{not json');
  const j = await c.next(result(null));
  assert.deepEqual([j.payload.status, j.payload.code], ['rejected', 'MYKO_BAD_JSON']);
  assert.equal(j['app-name'], 'myko');

  const { timestamp: _t, ...noTimestamp } = envelope('command', { id: 'Order/x', type: 'Explode', data: {} }, 'no-ts');
  c.send(noTimestamp);
  const e1 = (await c.next(result('no-ts'))).payload;
  assert.deepEqual([e1.status, e1.code], ['rejected', 'MYKO_BAD_FRAME']);
  assert.match(e1.errors[0], /timestamp is required/);

  c.send({ ...envelope('command', {}, 'x'), 'correlation-id': 42 });
  assert.match((await c.nextNew(result(null))).payload.errors[0], /correlation-id/);

  c.send(envelope('frobnicate', {}, 'type-1'));
  assert.deepEqual((await c.next(result('type-1'))).payload.code, 'MYKO_UNKNOWN_KIND');
  c.send(envelope('update', { version: 1 }, 'type-2'));
  assert.match((await c.next(result('type-2'))).payload.errors[0], /servers only/);

  c.send(envelope('subscribe', { to: 'galaxy', id: 'x' }, 'sub-1'));
  const s1 = (await c.next(result('sub-1'))).payload;
  assert.deepEqual([s1.status, s1.code], ['rejected', 'MYKO_BAD_QUERY']);
  assert.match(s1.errors[0], /payload\.to must be one of/);
  c.send(envelope('subscribe', { to: 'aggregate', id: 'no-slash' }, 'sub-2'));
  assert.match((await c.next(result('sub-2'))).payload.errors[0], /ITEMTYPE\/ID/);
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/x', 'event-name': 'SET' }, 'sub-3'));
  assert.match((await c.next(result('sub-3'))).payload.errors[0], /event-name/);
  c.send(envelope('subscribe', { to: 'event', id: 'Order/x', 'event-name': 'CREATED' }, 'sub-4'));
  assert.equal((await c.next(result('sub-4'))).payload.status, 'rejected');
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/x' }, 'dup'));
  await c.next(result('dup'));
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/y' }, 'dup'));
  const dup = await c.nextNew(result('dup'));
  assert.match(dup.payload.errors[0], /already live/);

  c.send(Buffer.from([1, 2, 3]));
  assert.match((await c.nextNew(result(null))).payload.errors[0], /binary/);
  // Still serving.
  c.send(envelope('command', { id: 'Order/alive', type: 'SET', data: { total: 1 } }, 'alive'));
  assert.equal((await c.next(result('alive'))).payload.status, 'ok');
  await c.close();
});

test('disconnect releases every subscription of the connection', async () => {
  const baseline = ts.server.ctx.queries.size;
  const c = await JsonClient.connect(url);
  c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/r1' }, 'r1'));
  c.send(envelope('subscribe', { to: 'projection', id: 'GetAllOrders/Order' }, 'r2'));
  await c.next(update('r2'));
  assert.equal(ts.server.ctx.queries.size, baseline + 2);
  await c.close();
  await sleep(50);
  assert.equal(ts.server.ctx.queries.size, baseline);
});
