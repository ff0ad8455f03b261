import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '../testing/index.js';

// Each item's JSON text is made once and kept on the item object (wire/item-json.ts). These tests hold the
// responses to the bytes JSON.stringify gives, and show a changed item never goes out with its old text.

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

const query = (tx: string) => ({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx } } });
const isResp = (tx: string, seq: number) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data?.tx === tx && f.data.sequence === seq;
const rawOf = (c: TestClient, tx: string, seq: number): string => {
  const hit = c.rawQueryResponse(tx, seq);
  assert.ok(typeof hit === 'string', `raw response ${tx}/${seq}`);
  return hit;
};
const expected = (tx: string, seq: number, upserts: unknown[], deletes: string[], totalCount: number) =>
  JSON.stringify({ event: 'ws:m:query-response', data: { tx, sequence: seq, upserts: upserts.map((item) => ({ itemType: 'Cue', item })), deletes, totalCount } });

test('a snapshot asked for again (cached item texts) is the same bytes; a changed item goes out with its new text, never the old', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  const cues = [
    { id: 'c1', label: 'quote " backslash \\ é 日本 \u2028', n: 1.5 },
    { id: 'c2', nested: { list: [1, null, true, { x: 'y' }] } },
  ];
  w.send({ event: 'ws:m:event-batch', data: cues.map((item) => ({ itemType: 'Cue', changeType: 'SET', item })) });
  await w.sync();

  r.send(query('s1'));
  const f1 = await r.next(isResp('s1', 0));
  const held = f1.data.upserts.map((u: any) => u.item); // as stored (the server may add a hash)
  assert.deepEqual(held.map((i: any) => i.id), ['c1', 'c2']);
  assert.equal(rawOf(r, 's1', 0), expected('s1', 0, held, [], 2));

  r.send(query('s2'));
  await r.next(isResp('s2', 0));
  assert.equal(rawOf(r, 's2', 0), rawOf(r, 's1', 0).replace('"tx":"s1"', '"tx":"s2"'));

  // c1 changes after its text was cached: the diff to both live queries, and a later snapshot, carry the new value.
  w.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'c1', label: 'changed' } } });
  const d1 = await r.next(isResp('s1', 1));
  assert.equal(d1.data.upserts[0].item.label, 'changed');
  assert.equal(rawOf(r, 's1', 1), expected('s1', 1, [d1.data.upserts[0].item], [], 2));
  const d2 = await r.next(isResp('s2', 1));
  assert.equal(rawOf(r, 's2', 1), rawOf(r, 's1', 1).replace('"tx":"s1"', '"tx":"s2"'));
  r.send(query('s3'));
  const f3 = await r.next(isResp('s3', 0));
  assert.deepEqual(f3.data.upserts.map((u: any) => u.item), [d2.data.upserts[0].item, held[1]]);
  assert.equal(rawOf(r, 's3', 0), expected('s3', 0, [d2.data.upserts[0].item, held[1]], [], 2));

  // A DEL, then a SET of the same id with the old content: a new object, and a correct text.
  w.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'c2' } } });
  await r.next(isResp('s3', 1));
  w.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: cues[1] } });
  const back = await r.next(isResp('s3', 2));
  assert.equal(rawOf(r, 's3', 2), expected('s3', 2, [back.data.upserts[0].item], [], 2));
  await w.close();
  await r.close();
});

test('CBOR and seed clients get the same items once their JSON texts are cached', async () => {
  const w = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'k1', v: [1, 'a'] } } });
  await w.sync();
  const j = await TestClient.connect(ts.url);
  j.send(query('j'));
  const jf = await j.next(isResp('j', 0)); // caches the texts
  const c = await TestClient.connect(ts.url);
  c.sendCbor(query('c'));
  const cf = await c.next(isResp('c', 0));
  assert.ok(Buffer.isBuffer(c.raw[c.raw.length - 1]));
  const byId = (ups: any[]) => Object.fromEntries(ups.map((u) => [u.item.id, u]));
  assert.deepEqual(byId(cf.data.upserts), byId(jf.data.upserts));
  const s = await TestClient.connect(ts.url);
  s.send({ event: 'ws:m:query', data: { clientId: s.clientId, queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'sd' } } });
  const sf = await s.next((f) => f.event === 'ws:m:query-response' && f.tx === 'sd');
  assert.deepEqual(byId(sf.data), byId(jf.data.upserts));
  for (const x of [w, j, c, s]) await x.close();
});

test('a snapshot sends the items as loaded, in order: ids given twice are one member in their first place; an absent id is skipped', async () => {
  const w = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event-batch', data: ['x3', 'x1', 'x2'].map((id) => ({ itemType: 'Chan', changeType: 'SET', item: { id, v: id } })) });
  await w.sync();
  const r = await TestClient.connect(ts.url);
  r.send({ event: 'ws:m:query', data: { queryId: 'GetChansByIds', queryItemType: 'Chan', query: { tx: 'ids', ids: ['x2', 'nope', 'x1', 'x2', 'x3'] } } });
  const f = await r.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === 'ids' && f.data.sequence === 0);
  assert.deepEqual(f.data.upserts.map((u: any) => u.item.id), ['x2', 'x1', 'x3']);
  assert.equal(f.data.totalCount, 3);
  const raw = r.raw.find((x) => typeof x === 'string' && x.includes('"tx":"ids"'));
  assert.equal(raw, JSON.stringify({ event: 'ws:m:query-response', data: { tx: 'ids', sequence: 0, upserts: f.data.upserts, deletes: [], totalCount: 3 } }));
  // The seed dialect's whole-result answer comes from the same loaded items.
  const s = await TestClient.connect(ts.url);
  s.send({ event: 'ws:m:query', data: { clientId: s.clientId, queryId: 'GetChansByIds', queryItemType: 'Chan', query: { tx: 'sids', ids: ['x3', 'x3', 'x1'] } } });
  const sf = await s.next((f) => f.event === 'ws:m:query-response' && f.tx === 'sids');
  assert.deepEqual(sf.data.map((u: any) => u.item.id), ['x3', 'x1']);
  for (const x of [w, r, s]) await x.close();
});
