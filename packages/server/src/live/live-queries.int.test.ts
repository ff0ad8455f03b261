import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '../testing/index.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

const set = (itemType: string, item: Record<string, unknown>) => ({ event: 'ws:m:event', data: { itemType, changeType: 'SET', item } });
const del = (itemType: string, id: string) => ({ event: 'ws:m:event', data: { itemType, changeType: 'DEL', item: { id } } });
const query = (tx: string, queryId: string, queryItemType: string, params: Record<string, unknown> = {}, window?: unknown) => ({
  event: 'ws:m:query',
  data: { queryId, queryItemType, query: { tx, ...params }, ...(window ? { window } : {}) },
});
const isResp = (tx: string, seq?: number) => (f: AnyFrame) =>
  f.event === 'ws:m:query-response' && f.data?.tx === tx && (seq === undefined || f.data.sequence === seq);

test('sequence 0 is the whole result; later responses carry only upserts and deletes', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event-batch', data: [1, 2, 3].map((n) => ({ itemType: 'Lamp', changeType: 'SET', item: { id: `l${n}`, level: n } })) });
  await w.sync();
  r.send(query('q', 'GetAllLamps', 'Lamp'));
  const first = await r.next(isResp('q', 0));
  assert.equal(first.data.totalCount, 3);
  assert.deepEqual(first.data.upserts.map((u: any) => u.item.id).sort(), ['l1', 'l2', 'l3']);
  assert.equal(first.data.upserts[0].itemType, 'Lamp');
  assert.deepEqual(first.data.deletes, []);

  w.send(set('Lamp', { id: 'l2', level: 20 }));
  const second = await r.next(isResp('q', 1));
  assert.deepEqual(second.data.upserts, [{ itemType: 'Lamp', item: { id: 'l2', level: 20, hash: second.data.upserts[0].item.hash } }]);
  assert.deepEqual(second.data.deletes, []);
  assert.equal(second.data.totalCount, 3);

  w.send(del('Lamp', 'l1'));
  const third = await r.next(isResp('q', 2));
  assert.deepEqual(third.data.upserts, []);
  assert.deepEqual(third.data.deletes, ['l1']);
  assert.equal(third.data.totalCount, 2);

  // An equal SET, a DEL of an absent item, and a change of another type: nothing visible, nothing sent.
  w.send(set('Lamp', { id: 'l3', level: 3 }));
  w.send(del('Lamp', 'nope'));
  w.send(set('Fader', { id: 'f1' }));
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:query-response', 'q').length, 3);
  await w.close();
  await r.close();
});

test('a filtered query hears only of items its filter can match, and loses items that stop matching', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  r.send(query('byService', 'GetDevicesByQuery', 'Device', { serviceId: 'a' }));
  await r.next(isResp('byService', 0));
  w.send(set('Device', { id: 'd1', serviceId: 'b' }));
  w.send(set('Device', { id: 'd2', serviceId: 'a' }));
  const s1 = await r.next(isResp('byService', 1));
  assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id), ['d2']);
  // d2 moves to service b: it leaves the result.
  w.send(set('Device', { id: 'd2', serviceId: 'b' }));
  const s2 = await r.next(isResp('byService', 2));
  assert.deepEqual(s2.data.deletes, ['d2']);
  // A change among service-b items only: nothing.
  w.send(set('Device', { id: 'd1', serviceId: 'b', name: 'x' }));
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:query-response', 'byService').length, 3);
  // Unknown query id falls back to the params as an equality filter.
  r.send(query('fallback', 'WhateverDevicesILike', 'Device', { serviceId: 'b' }));
  const fb = await r.next(isResp('fallback', 0));
  assert.deepEqual(fb.data.upserts.map((u: any) => u.item.id).sort(), ['d1', 'd2']);
  // By ids.
  r.send(query('ids', 'GetDevicesByIds', 'Device', { ids: ['d1', 'zz'] }));
  const byIds = await r.next(isResp('ids', 0));
  assert.deepEqual(byIds.data.upserts.map((u: any) => u.item.id), ['d1']);
  await w.close();
  await r.close();
});

test('a burst within one batch is coalesced into one response per query', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  r.send(query('burst', 'GetAllCounters', 'Counter'));
  await r.next(isResp('burst', 0));
  w.send({
    event: 'ws:m:event-batch',
    data: Array.from({ length: 50 }, (_, i) => ({ itemType: 'Counter', changeType: 'SET', item: { id: 'c', n: i } })),
  });
  const resp = await r.next(isResp('burst', 1));
  assert.equal(resp.data.upserts.length, 1);
  assert.equal(resp.data.upserts[0].item.n, 49);
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:query-response', 'burst').length, 2);
  await w.close();
  await r.close();
});

test('windows: lexicographic slice, totalCount, moves; a change outside sends only a new totalCount, or nothing', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  const ids = ['k05', 'k01', 'k09', 'k03', 'k07', 'k02', 'k08', 'k04', 'k06', 'k10'];
  w.send({ event: 'ws:m:event-batch', data: ids.map((id) => ({ itemType: 'Key', changeType: 'SET', item: { id } })) });
  await w.sync();
  r.send(query('win', 'GetAllKeys', 'Key', {}, { offset: 2, limit: 3 }));
  const s0 = await r.next(isResp('win', 0));
  assert.deepEqual(s0.data.upserts.map((u: any) => u.item.id), ['k03', 'k04', 'k05']);
  assert.equal(s0.data.totalCount, 10);
  assert.deepEqual(s0.data.window, { offset: 2, limit: 3 });

  // A change outside the window that leaves the count as it was sends nothing.
  w.send(set('Key', { id: 'k09', touched: true }));
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:query-response', 'win').length, 1);
  // One that changes the count sends the new totalCount alone, with the page's order (the reference server does).
  w.send(set('Key', { id: 'k11' }));
  const c1 = await r.next(isResp('win', 1));
  assert.deepEqual(c1.data.upserts, []);
  assert.deepEqual(c1.data.deletes, []);
  assert.equal(c1.data.totalCount, 11);
  assert.deepEqual(c1.data.changes[0].ids, ['k03', 'k04', 'k05']);
  assert.equal(c1.data.changes[0].total_count, 11);

  // A change inside the window is an upsert.
  w.send(set('Key', { id: 'k04', touched: true }));
  const s1 = await r.next(isResp('win', 2));
  assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id), ['k04']);
  assert.deepEqual(s1.data.deletes, []);

  // Deleting an item before the window shifts it: k03 leaves... no, k06 enters and k03 stays? Offset 2 of
  // [k01,k02,k04,...] is k04: k03 deleted → slice becomes k04,k05,k06.
  w.send(del('Key', 'k03'));
  const s2 = await r.next(isResp('win', 3));
  assert.deepEqual(s2.data.deletes, ['k03']);
  assert.deepEqual(s2.data.upserts.map((u: any) => u.item.id), ['k06']);
  assert.equal(s2.data.totalCount, 10);

  // Moving the window answers with what entered and what left.
  r.send({ event: 'ws:m:query-window', data: { tx: 'win', window: { offset: 0, limit: 2 } } });
  const s3 = await r.next(isResp('win', 4));
  assert.deepEqual(s3.data.upserts.map((u: any) => u.item.id), ['k01', 'k02']);
  assert.deepEqual(s3.data.deletes.sort(), ['k04', 'k05', 'k06']);
  assert.deepEqual(s3.data.window, { offset: 0, limit: 2 });
  await w.close();
  await r.close();
});

test('ws:m:query-window without a window (null or absent) answers a fresh sequence 0 with the full result, then every change', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
  w.send({ event: 'ws:m:event-batch', data: ids.map((id) => ({ itemType: 'Nib', changeType: 'SET', item: { id } })) });
  await w.sync();
  for (const [tx, data] of [
    ['unwinNull', (t: string) => ({ tx: t, window: null })],
    ['unwinAbsent', (t: string) => ({ tx: t })],
  ] as const) {
    r.send(query(tx, 'GetAllNibs', 'Nib', {}, { offset: 1, limit: 2 }));
    const s0 = await r.next(isResp(tx, 0));
    assert.deepEqual(s0.data.upserts.map((u: any) => u.item.id), ['n2', 'n3']);
    r.send({ event: 'ws:m:query-window', data: data(tx) });
    // WIRE.md 6.2 / issue 14: the client clears its copy on sequence 0 and takes the whole result.
    await r.sync();
    const s1 = r.all('ws:m:query-response', tx)[1]!;
    assert.equal(s1.data.sequence, 0, `${tx}: a fresh sequence 0`);
    assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id).sort(), ids, tx);
    assert.deepEqual(s1.data.deletes, [], tx);
    assert.equal(s1.data.totalCount, 6);
    assert.equal('window' in s1.data, false, `${tx}: no window in the response any more`);
    assert.equal('changes' in s1.data, false, `${tx}: no windowOrder once unwindowed`);
  }
  // n6 was outside both windows: now that they are gone, its change reaches both queries.
  w.send(set('Nib', { id: 'n6', touched: true }));
  for (const tx of ['unwinNull', 'unwinAbsent']) {
    const s2 = await r.next(isResp(tx, 1));
    assert.deepEqual(s2.data.upserts.map((u: any) => u.item.id), ['n6'], tx);
  }
  await w.close();
  await r.close();
});

test('ws:m:query-window with an unknown tx gets a query-error naming the tx; the connection and its queries carry on', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  r.send(query('known', 'GetAllPegs', 'Peg', {}, { offset: 0, limit: 5 }));
  await r.next(isResp('known', 0));
  r.send({ event: 'ws:m:query-window', data: { tx: 'never-sent', window: { offset: 0, limit: 1 } } });
  const e = await r.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'never-sent');
  assert.match(e.data.message, /no live query with tx never-sent/);
  // A cancelled tx is unknown too.
  r.send(query('gone', 'GetAllPegs', 'Peg'));
  await r.next(isResp('gone', 0));
  r.send({ event: 'ws:m:query-cancel', data: { tx: 'gone' } });
  r.send({ event: 'ws:m:query-window', data: { tx: 'gone', window: null } });
  const e2 = await r.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'gone');
  assert.match(e2.data.message, /no live query with tx gone/);
  assert.equal(r.all('ws:m:query-response', 'gone').length, 1, 'the cancelled query was not revived');
  // Still connected, and the live query still works.
  await r.sync();
  w.send(set('Peg', { id: 'p1' }));
  const s1 = await r.next(isResp('known', 1));
  assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id), ['p1']);
  assert.equal(r.all('ws:m:error').length, 0, 'answered as a query error, not a frame error');
  await w.close();
  await r.close();
});

test('cancel in all three forms stops the responses; a duplicate tx is ignored', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  for (const tx of ['c1', 'c2', 'c3', 'kept']) {
    r.send(query(tx, 'GetAllBulbs', 'Bulb'));
    await r.next(isResp(tx, 0));
  }
  r.send(query('c1', 'GetAllBulbs', 'Bulb')); // duplicate: ignored
  r.send({ event: 'ws:m:query-cancel', data: { tx: 'c1' } });
  r.send({ event: 'ws:m:query-cancel', tx: 'c2', data: {} });
  r.send({ event: 'ws:m:query-cancel', data: 'c3' });
  await r.sync();
  w.send(set('Bulb', { id: 'b1' }));
  // The control: the same query, not cancelled, does get the update, so the silence of the others means something.
  const kept = await r.next(isResp('kept', 1));
  assert.deepEqual(kept.data.upserts.map((u: any) => u.item.id), ['b1']);
  await w.sync();
  await r.sync();
  for (const tx of ['c1', 'c2', 'c3']) assert.equal(r.all('ws:m:query-response', tx).length, 1, tx);
  assert.equal(r.all('ws:m:query-response', 'kept').length, 2);
  assert.equal(ts.server.ctx.queries.countFor(ts.server.connections.get(r.clientId!)!), 1, 'only the kept query is live on the server');
  await w.close();
  await r.close();
});

test('a query that cannot run gets ws:m:query-error {tx, queryId, message}', async () => {
  const r = await TestClient.connect(ts.url);
  r.send(query('bad', 'GetBulbsByIds', 'Bulb', { ids: 'b1' }));
  const e = await r.next((f) => f.event === 'ws:m:query-error');
  assert.equal(e.data.tx, 'bad');
  assert.equal(e.data.queryId, 'GetBulbsByIds');
  assert.match(e.data.message, /ids/);
  r.send({ event: 'ws:m:query', data: { queryItemType: 'Bulb', query: { tx: 'noid' } } });
  const e2 = await r.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'noid');
  assert.match(e2.data.message, /queryId/);
  await r.close();
});

test('reports are live: a new response each time the value changes, none when it does not', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  r.send({ event: 'ws:m:report', data: { reportId: 'GetPanelsCount', report: { tx: 'rp' } } });
  const first = await r.next((f) => f.event === 'ws:m:report-response' && f.data.tx === 'rp');
  assert.equal(first.data.response, 0);
  w.send(set('Panel', { id: 'p1' }));
  await r.next((f) => f.event === 'ws:m:report-response' && f.data.response === 1);
  w.send(set('Panel', { id: 'p1', changed: true })); // count unchanged
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:report-response', 'rp').length, 2);
  r.send({ event: 'ws:m:report', data: { reportId: 'NoSuchReport', report: { tx: 'rx' } } });
  const err = await r.next((f) => f.event === 'ws:m:report-error');
  assert.deepEqual([err.data.tx, err.data.reportId], ['rx', 'NoSuchReport']);
  r.send({ event: 'ws:m:report-cancel', data: { tx: 'rp' } });
  await r.sync();
  w.send(set('Panel', { id: 'p2' }));
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:report-response', 'rp').length, 2);
  await w.close();
  await r.close();
});

test('report-cancel in all three forms stops the responses; an uncancelled report still updates; a cancel without a tx is an error', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  const isReport = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:report-response' && f.data?.tx === tx;
  for (const tx of ['r1', 'r2', 'r3', 'rkept']) {
    r.send({ event: 'ws:m:report', data: { reportId: 'GetSocketsCount', report: { tx } } });
    await r.next(isReport(tx));
  }
  r.send({ event: 'ws:m:report-cancel', data: { tx: 'r1' } });
  r.send({ event: 'ws:m:report-cancel', tx: 'r2', data: {} });
  r.send({ event: 'ws:m:report-cancel', data: 'r3' });
  r.send({ event: 'ws:m:report-cancel', data: {} });
  const bad = await r.next((f) => f.event === 'ws:m:error' && f.data.kind === 'ws:m:report-cancel');
  assert.equal(bad.data.code, 'MYKO_BAD_REPORT');
  assert.match(bad.data.message, /cancel needs a tx/);
  await r.sync();
  w.send(set('Socket', { id: 's1' }));
  const kept = await r.nextNew(isReport('rkept'));
  assert.equal(kept.data.response, 1, 'the control report sees the new socket');
  await w.sync();
  await r.sync();
  for (const tx of ['r1', 'r2', 'r3']) assert.equal(r.all('ws:m:report-response', tx).length, 1, tx);
  assert.equal(ts.server.ctx.reports.countFor(ts.server.connections.get(r.clientId!)!), 1, 'only the kept report is live on the server');
  await w.close();
  await r.close();
});

test('ping is echoed byte for byte', async () => {
  const r = await TestClient.connect(ts.url);
  const text = '{"event":"ws:m:ping","data":{"id":"x1","timestamp":1700000000000,"extra":[1,2]}}';
  r.send(text);
  await r.next((f) => f.event === 'ws:m:ping' && f.data.id === 'x1');
  assert.ok(r.raw.includes(text));
  await r.close();
});

test('after a binary frame the server answers in CBOR', async () => {
  const r = await TestClient.connect(ts.url);
  r.sendCbor({ event: 'ws:m:event', data: { itemType: 'Blob', changeType: 'SET', item: { id: 'cb1', n: 1.5, list: [1, 'a'] } } });
  r.sendCbor(query('cq', 'GetAllBlobs', 'Blob'));
  const resp = await r.next(isResp('cq', 0));
  assert.deepEqual(resp.data.upserts[0].item.list, [1, 'a']);
  assert.ok(Buffer.isBuffer(r.raw[r.raw.length - 1]), 'the response arrived as a binary frame');
  // Garbage CBOR: an error (in CBOR), the connection stays.
  r.ws.send(Buffer.from([0xff, 0x00, 0x13]));
  const err = await r.next((f) => f.event === 'ws:m:error');
  assert.equal(err.data.code, 'MYKO_BAD_CBOR');
  r.sendCbor({ event: 'ws:m:ping', data: { id: 'after', timestamp: 1 } });
  await r.next((f) => f.event === 'ws:m:ping' && f.data.id === 'after');
  await r.close();
});

test('a seed client and a current client watch the same items, each in its own dialect', async () => {
  const seed = await TestClient.connect(ts.url);
  const current = await TestClient.connect(ts.url);
  seed.send({ event: 'ws:m:query', data: { clientId: seed.clientId, queryId: 'GetAllScreens', queryItemType: 'Screen', query: { tx: 'sq' } } });
  current.send(query('cq', 'GetAllScreens', 'Screen'));
  const s0 = await seed.next((f) => f.event === 'ws:m:query-response' && f.tx === 'sq');
  assert.deepEqual(s0.data, []);
  await current.next(isResp('cq', 0));
  let mark = seed.frames.length;
  current.send(set('Screen', { id: 's1', on: true }));
  const s1 = await seed.next((f) => f.event === 'ws:m:query-response' && f.tx === 'sq', 3000, mark);
  assert.ok(Array.isArray(s1.data));
  assert.equal(s1.data[0].item.id, 's1');
  const c1 = await current.next(isResp('cq', 1));
  assert.equal(c1.data.upserts[0].item.id, 's1');
  mark = seed.frames.length;
  seed.send({ event: 'ws:m:event', data: { clientId: seed.clientId, itemType: 'Screen', changeType: 'SET', item: { id: 's2' } } });
  const c2 = await current.next(isResp('cq', 2));
  assert.equal(c2.data.upserts[0].item.id, 's2');
  const s2 = await seed.next((f) => f.event === 'ws:m:query-response' && f.tx === 'sq', 3000, mark);
  assert.deepEqual(s2.data.map((w: any) => w.item.id).sort(), ['s1', 's2']);
  await seed.close();
  await current.close();
});

test('the dialect can be fixed by URL parameter or subprotocol', async () => {
  const base = ts.url;
  const byParam = await TestClient.connect(`${base}?dialect=seed`);
  byParam.send(query('p', 'GetAllScreens', 'Screen'));
  const p = await byParam.next((f) => f.event === 'ws:m:query-response');
  assert.equal(p.tx, 'p');
  assert.ok(Array.isArray(p.data));
  const byProto = await TestClient.connect(base, { protocols: ['myko.current'] });
  byProto.send({ event: 'ws:m:query', data: { clientId: byProto.clientId, queryId: 'GetAllScreens', queryItemType: 'Screen', query: { tx: 'b' } } });
  const b = await byProto.next((f) => f.event === 'ws:m:query-response');
  assert.equal(b.data.sequence, 0, 'a fixed current client stays current even when it sends clientId');
  await byParam.close();
  await byProto.close();
});
