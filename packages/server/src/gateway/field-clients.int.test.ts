/**
 * The frames the real clients in the field send (WIRE.md 6.1, 6.2, 6.4),
 * replayed as they are: the TouchDesigner executor's events and topology
 * queries, the reference MykoClient's re-sent queries and CBOR pings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Encoder } from 'cbor-x';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '../testing/index.js';
import { JsonClient } from '../testing/json-client.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

const query = (tx: string, queryId: string, queryItemType: string, params: Record<string, unknown> = {}) => ({
  event: 'ws:m:query',
  data: { queryId, queryItemType, query: { tx, ...params } },
});
const isResp = (tx: string, sequence?: number) => (f: AnyFrame) =>
  f.event === 'ws:m:query-response' && f.data?.tx === tx && (sequence === undefined || f.data.sequence === sequence);
const ids = (f: AnyFrame) => (f.data.upserts as { item: { id: string } }[]).map((u) => u.item.id).sort();
const set = (itemType: string, item: Record<string, unknown>) => ({ event: 'ws:m:event', data: { itemType, changeType: 'SET', item } });

test('TouchDesigner events: sourceId, tx and createdAt null mean absent; options is accepted; single and batched', async () => {
  const c = await TestClient.connect(ts.url);
  const before = ts.server.writer.position;
  // Exactly the shape of every TouchDesigner event.
  c.send({ event: 'ws:m:event', data: { itemType: 'TdThing', changeType: 'SET', item: { id: 'td1', v: 1, hash: null }, sourceId: null, tx: null, createdAt: null } });
  c.send({
    event: 'ws:m:event-batch',
    data: [
      { itemType: 'TdThing', changeType: 'SET', item: { id: 'td2', v: 2 }, sourceId: null, tx: 'td-tx', createdAt: null, options: { preventRelationshipUpdates: true, preventPersist: false, fromPeer: false } },
      { itemType: 'TdThing', changeType: 'SET', item: { id: 'td3', v: 3 }, sourceId: 'td-source', tx: null, createdAt: '2026-01-02T03:04:05Z', options: {} },
    ],
  });
  await c.sync();
  assert.deepEqual(c.all('ws:m:error'), [], 'nothing refused');
  const stored = (await ts.server.store.readAfter(before, 100)).filter((e) => e.itemType === 'TdThing');
  assert.deepEqual(stored.map((e) => e.item.id), ['td1', 'td2', 'td3']);
  const [e1, e2, e3] = stored;
  assert.equal(e1!.sourceId, ts.server.serverId, 'null sourceId: this server');
  assert.match(e1!.tx, /^[0-9a-f-]{36}$/, 'null tx: a fresh uuid');
  assert.ok(!Number.isNaN(Date.parse(e1!.createdAt)), 'null createdAt: now');
  assert.match(String(e1!.item.hash), /^[0-9a-f]{64}$/, 'a null hash is computed');
  assert.equal(e2!.tx, 'td-tx');
  assert.equal(e3!.sourceId, 'td-source');
  assert.equal(e3!.createdAt, '2026-01-02T03:04:05Z');
  assert.equal((e2 as unknown as Record<string, unknown>).options, undefined, 'options is not stored');
  assert.equal(ts.server.state.get('TdThing', 'td3')?.v, 3);
  await c.close();
});

test('TouchDesigner topology query: params whose value is null are no constraint', async () => {
  const c = await TestClient.connect(ts.url);
  c.send({
    event: 'ws:m:event-batch',
    data: [
      { itemType: 'Target', changeType: 'SET', item: { id: 'sf-1', name: 'Stage', serviceId: 'ShowFile', category: 'stage', parentTargets: [] } },
      { itemType: 'Target', changeType: 'SET', item: { id: 'sf-2', name: 'Truss', serviceId: 'ShowFile', parentTargets: ['sf-1'] } },
      { itemType: 'Target', changeType: 'SET', item: { id: 'other-1', name: 'Else', serviceId: 'Other' } },
    ],
  });
  // The exact params of the TouchDesigner executor.
  c.send(query('topo', 'GetTargetsByQuery', 'Target', { createdAt: '2026-01-01T00:00:00.000Z', serviceId: 'ShowFile', category: null, name: null, parentTargets: null }));
  const r = await c.next(isResp('topo', 0));
  assert.deepEqual(ids(r), ['sf-1', 'sf-2']);
  assert.equal(r.data.totalCount, 2);
  await c.close();
});

test('a MykoClient re-sending its queries after a reconnect with seq: 0 gets the same results, and live updates still arrive', async () => {
  const w = await TestClient.connect(ts.url);
  w.send({
    event: 'ws:m:event-batch',
    data: [
      { itemType: 'Cue', changeType: 'SET', item: { id: 'cue-1', list: 'main' } },
      { itemType: 'Cue', changeType: 'SET', item: { id: 'cue-2', list: 'main' } },
      { itemType: 'Cue', changeType: 'SET', item: { id: 'cue-3', list: 'side' } },
    ],
  });
  await w.sync();
  const c = await TestClient.connect(ts.url);
  // data.query.seq, as the reference client adds it on re-subscription.
  c.send(query('rq-by', 'GetCuesByQuery', 'Cue', { list: 'main', seq: 0 }));
  c.send(query('rq-unknown', 'GetMainCues', 'Cue', { seq: 0 }));
  c.send(query('rq-all', 'GetAllCues', 'Cue', { seq: 0 }));
  c.send(query('rq-ids', 'GetCuesByIds', 'Cue', { ids: ['cue-3'], seq: 0, userToken: 't', clientId: 'someone' }));
  assert.deepEqual(ids(await c.next(isResp('rq-by', 0))), ['cue-1', 'cue-2']);
  assert.deepEqual(ids(await c.next(isResp('rq-unknown', 0))), ['cue-1', 'cue-2', 'cue-3']);
  assert.deepEqual(ids(await c.next(isResp('rq-all', 0))), ['cue-1', 'cue-2', 'cue-3']);
  assert.deepEqual(ids(await c.next(isResp('rq-ids', 0))), ['cue-3']);
  w.send(set('Cue', { id: 'cue-4', list: 'main' }));
  assert.deepEqual(ids(await c.next(isResp('rq-by', 1))), ['cue-4']);
  assert.deepEqual(ids(await c.next(isResp('rq-unknown', 1))), ['cue-4']);
  await Promise.all([w.close(), c.close()]);
});

test('v5 filter objects beside plain values: eq, in, range, contains, startsWith; live updates enter and leave', async () => {
  const w = await TestClient.connect(ts.url);
  const lights = [
    { id: 'l1', zone: 'a', level: 1, name: 'spot left' },
    { id: 'l2', zone: 'a', level: 4, name: 'spot right' },
    { id: 'l3', zone: 'b', level: 5, name: 'wash' },
    { id: 'l4', zone: 'c', level: 9, name: 'hotspot' },
    { id: 'l5', zone: 'b', name: 'no level' },
  ];
  w.send({ event: 'ws:m:event-batch', data: lights.map((item) => ({ itemType: 'Light', changeType: 'SET', item })) });
  await w.sync();
  const c = await TestClient.connect(ts.url);
  const cases: [tx: string, params: Record<string, unknown>, expected: string[]][] = [
    ['f-eq', { zone: { kind: 'eq', value: 'a' } }, ['l1', 'l2']],
    ['f-in', { zone: { kind: 'in', value: ['b', 'c'] } }, ['l3', 'l4', 'l5']],
    ['f-in-empty', { zone: { kind: 'in', value: [] } }, []],
    ['f-range', { level: { kind: 'range', value: { min: 4, max: 5 } } }, ['l2', 'l3']],
    ['f-range-open', { level: { kind: 'range', value: { min: 5 } } }, ['l3', 'l4']],
    ['f-contains', { name: { kind: 'contains', value: 'spot' } }, ['l1', 'l2', 'l4']],
    ['f-starts', { name: { kind: 'startsWith', value: 'spot' } }, ['l1', 'l2']],
    ['f-mixed', { zone: 'a', level: { kind: 'range', value: { max: 3 } }, name: null, seq: 0 }, ['l1']],
  ];
  for (const [tx, params] of cases) c.send(query(tx, 'GetLightsByQuery', 'Light', params));
  for (const [tx, , expected] of cases) assert.deepEqual(ids(await c.next(isResp(tx, 0))), expected, tx);

  // l5 enters the range (and the mixed query: zone a, level <= 3); l2 leaves the range.
  w.send(set('Light', { id: 'l5', zone: 'a', level: 2, name: 'no level' }));
  w.send(set('Light', { id: 'l2', zone: 'a', level: 8, name: 'spot right' }));
  const range = await c.next(isResp('f-range', 1));
  assert.deepEqual(ids(range), []);
  assert.deepEqual(range.data.deletes, ['l2']);
  const mixed = await c.next(isResp('f-mixed', 1));
  assert.deepEqual(ids(mixed), ['l5']);
  const eq = await c.next(isResp('f-eq', 1)); // indexed by zone = a: l5 enters
  assert.ok(ids(eq).includes('l5'), JSON.stringify(eq.data));
  const inq = await c.next(isResp('f-in', 1)); // l5 left zone b
  assert.deepEqual(inq.data.deletes, ['l5']);
  await Promise.all([w.close(), c.close()]);
});

test('a v5 filter of an unknown kind, or with a value of the wrong shape, is a query-error naming it; the connection carries on', async () => {
  const c = await TestClient.connect(ts.url);
  c.send(query('bad-kind', 'GetLightsByQuery', 'Light', { zone: { kind: 'near', value: 'a' } }));
  const e1 = await c.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'bad-kind');
  assert.match(e1.data.message, /zone: unknown filter kind "near" \(known: eq, in, range, contains, startsWith\)/);
  c.send(query('bad-in', 'GetLightsByQuery', 'Light', { zone: { kind: 'in', value: 'a' } }));
  const e2 = await c.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'bad-in');
  assert.match(e2.data.message, /zone: \{kind: "in"\} needs value to be an array/);
  c.send(query('fine', 'GetLightsByQuery', 'Light', { zone: 'c' }));
  assert.deepEqual(ids(await c.next(isResp('fine', 0))), ['l4']);
  await c.close();
});

test('the $ models keys and the ops API where filter as Myko queries do: null no constraint, v5 kinds, unknown kind refused', async () => {
  // The Light items of the test above: l1 (a, 1), l2 (a, 8), l3 (b, 5), l4 (c, 9), l5 (a, 2).
  const m = await JsonClient.connect(ts.server.url('/models'));
  const range = encodeURIComponent(JSON.stringify({ kind: 'range', value: { min: 2, max: 8 } }));
  const key = `Light?zone=a&level=${range}&name=null`;
  m.send({ $: 'sub', keys: [key, 'Light?zone=%7B%22kind%22%3A%22near%22%2C%22value%22%3A1%7D'] });
  const up = await m.next((x) => x.$ === 'up' && x.key === key);
  assert.deepEqual(up.val.map((x: { id: string }) => x.id), ['l2', 'l5']);
  const err = await m.next((x) => x.$ === 'error' || (x.$ === 'up' && x.key !== key));
  assert.equal(err.$, 'error', JSON.stringify(err));
  assert.match(JSON.stringify(err), /unknown filter kind \\"near\\"/);
  await m.close();

  const http = ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
  const where = encodeURIComponent(JSON.stringify({ zone: { kind: 'in', value: ['a', 'c'] }, name: null, level: { kind: 'range', value: { min: 2 } } }));
  const res = await fetch(`${http}/api/items/Light?where=${where}`);
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { items: { id: string }[] }).items.map((x) => x.id), ['l2', 'l4', 'l5']);
  const bad = await fetch(`${http}/api/items/Light?where=${encodeURIComponent('{"zone":{"kind":"near","value":1}}')}`);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /where\.zone: unknown filter kind/);
});

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

test('CBOR: a ping with a 64-bit BigInt timestamp (beyond 2^53) is echoed with the very value, as an 8-byte integer', async () => {
  const c = await TestClient.connect(ts.url);
  const big = 2n ** 60n + 12345n; // not representable as a double
  const now = BigInt(Date.now()); // the reference client's usual timestamp, also sent as an 8-byte integer
  for (const [id, timestamp] of [['big', big], ['now', now]] as const) {
    const sent = Buffer.from(cbor.encode({ event: 'ws:m:ping', data: { id, timestamp } })); // a copy: cbor-x reuses its buffer
    assert.ok(sent.includes(0x1b), 'the frame carries an 8-byte unsigned integer (major type 0, argument 27)');
    c.ws.send(sent);
    const echo = await c.next((f) => f.event === 'ws:m:ping' && f.data?.id === id);
    assert.equal(echo.data.timestamp, timestamp, `${id}: the same value, decoded as a BigInt`);
    const raw = c.raw[c.frames.indexOf(echo)] as Buffer;
    assert.ok(Buffer.isBuffer(raw));
    assert.equal(raw.toString('hex'), sent.toString('hex'), `${id}: the echo is byte for byte the ping`);
  }
  const neg = cbor.encode({ event: 'ws:m:ping', data: { id: 'neg', timestamp: -(2n ** 62n) } });
  c.ws.send(neg);
  const echo = await c.next((f) => f.event === 'ws:m:ping' && f.data?.id === 'neg');
  assert.equal(echo.data.timestamp, -(2n ** 62n), 'a negative 64-bit integer (major type 1) too');
  assert.deepEqual(c.all('ws:m:error'), []);
  await c.close();
});

test('CBOR: an event whose item holds 64-bit integers is stored (as numbers, as JSON text would give them) and served to JSON and CBOR clients', async () => {
  const c = await TestClient.connect(ts.url);
  c.sendCbor({
    event: 'ws:m:event',
    data: { itemType: 'Stamp', changeType: 'SET', item: { id: 'st1', at: 2n ** 60n, small: 42n, nested: { list: [-(2n ** 62n)] } }, sourceId: null },
  });
  c.sendCbor(query('st-q', 'GetAllStamps', 'Stamp'));
  const r = await c.next(isResp('st-q', 0));
  assert.deepEqual(c.all('ws:m:error'), [], 'nothing refused');
  const item = r.data.upserts[0].item;
  assert.equal(Number(item.at), 2 ** 60);
  assert.equal(Number(item.small), 42);
  assert.equal(Number(item.nested.list[0]), -(2 ** 62));
  const stored = ts.server.state.get('Stamp', 'st1')!;
  assert.equal(stored.at, 2 ** 60, 'a number in state, the value JSON.parse gives for the same integer in text');
  assert.equal(typeof stored.hash, 'string');
  const j = await TestClient.connect(ts.url);
  j.send(query('st-j', 'GetAllStamps', 'Stamp'));
  const rj = await j.next(isResp('st-j', 0));
  assert.equal(rj.data.upserts[0].item.at, 2 ** 60);
  await Promise.all([c.close(), j.close()]);
});
