import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '../testing/index.js';

/**
 * Windowed results as the reference MykoClient reads them (WIRE.md 6.2): it
 * orders a page by `changes[windowOrder].ids` (else by arrival), and takes
 * `deletes` as "left the page".
 */

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

const batch = (itemType: string, ids: string[]) => ({
  event: 'ws:m:event-batch',
  data: ids.map((id) => ({ itemType, changeType: 'SET', item: { id } })),
});
const set = (itemType: string, item: Record<string, unknown>) => ({ event: 'ws:m:event', data: { itemType, changeType: 'SET', item } });
const del = (itemType: string, id: string) => ({ event: 'ws:m:event', data: { itemType, changeType: 'DEL', item: { id } } });
const isResp = (tx: string, seq: number) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data?.tx === tx && f.data.sequence === seq;
const order = (f: AnyFrame) => {
  const changes = f.data.changes as any[] | undefined;
  assert.ok(Array.isArray(changes), `sequence ${f.data.sequence} carries changes`);
  const entries = changes.filter((c) => c.kind === 'windowOrder');
  assert.equal(entries.length, 1, 'exactly one windowOrder entry');
  return entries[0];
};
const ids = (f: AnyFrame) => f.data.upserts.map((u: any) => u.item.id);

test('every response of a windowed query carries windowOrder: sequence 0, changes, and window moves', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send(batch('Row', ['r2', 'r4', 'r6', 'r8']));
  await w.sync();
  r.send({ event: 'ws:m:query', data: { queryId: 'GetAllRows', queryItemType: 'Row', query: { tx: 'w' }, window: { offset: 0, limit: 3 } } });
  const s0 = await r.next(isResp('w', 0));
  assert.deepEqual(order(s0), { kind: 'windowOrder', ids: ['r2', 'r4', 'r6'], total_count: 4, window: { offset: 0, limit: 3 } });
  assert.equal(s0.data.totalCount, 4);

  // An item that enters at the front of the page: first in ids (arrival order would put it last).
  w.send(set('Row', { id: 'r1' }));
  const s1 = await r.next(isResp('w', 1));
  assert.deepEqual(ids(s1), ['r1']);
  assert.deepEqual(s1.data.deletes, ['r6'], 'deletes means "left the page": r6 still exists');
  assert.deepEqual(order(s1), { kind: 'windowOrder', ids: ['r1', 'r2', 'r4'], total_count: 5, window: { offset: 0, limit: 3 } });

  // A change inside the page: the order entry is there too.
  w.send(set('Row', { id: 'r2', v: 1 }));
  const s2 = await r.next(isResp('w', 2));
  assert.deepEqual(ids(s2), ['r2']);
  assert.deepEqual(order(s2).ids, ['r1', 'r2', 'r4']);

  // A real delete on the page: it leaves, the next one enters at the back.
  w.send(del('Row', 'r1'));
  const s3 = await r.next(isResp('w', 3));
  assert.deepEqual(s3.data.deletes, ['r1']);
  assert.deepEqual(ids(s3), ['r6']);
  assert.deepEqual(order(s3), { kind: 'windowOrder', ids: ['r2', 'r4', 'r6'], total_count: 4, window: { offset: 0, limit: 3 } });

  // Moving the window.
  r.send({ event: 'ws:m:query-window', data: { tx: 'w', window: { offset: 2, limit: 2 } } });
  const s4 = await r.next(isResp('w', 4));
  assert.deepEqual(ids(s4), ['r8']);
  assert.deepEqual(s4.data.deletes.sort(), ['r2', 'r4']);
  assert.deepEqual(order(s4), { kind: 'windowOrder', ids: ['r6', 'r8'], total_count: 4, window: { offset: 2, limit: 2 } });
  assert.deepEqual(s4.data.window, { offset: 2, limit: 2 });

  // A query windowed only later (it was whole): the first windowed response carries the order too.
  r.send({ event: 'ws:m:query', data: { queryId: 'GetAllRows', queryItemType: 'Row', query: { tx: 'late' } } });
  const l0 = await r.next(isResp('late', 0));
  assert.equal(l0.data.changes, undefined, 'no windowOrder without a window');
  r.send({ event: 'ws:m:query-window', data: { tx: 'late', window: { offset: 1, limit: 2 } } });
  const l1 = await r.next(isResp('late', 1));
  assert.deepEqual(order(l1).ids, ['r4', 'r6']);
  assert.deepEqual(l1.data.deletes.sort(), ['r2', 'r8'], 'what the client held outside the new page left it');
  await w.close();
  await r.close();
});

test('windowOrder also in CBOR, with total_count in snake case inside the entry', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send(batch('Cb', ['c1', 'c2', 'c3']));
  await w.sync();
  r.sendCbor({ event: 'ws:m:query', data: { queryId: 'GetAllCbs', queryItemType: 'Cb', query: { tx: 'cb' }, window: { offset: 1, limit: 5 } } });
  const s0 = await r.next(isResp('cb', 0));
  assert.deepEqual(order(s0), { kind: 'windowOrder', ids: ['c2', 'c3'], total_count: 3, window: { offset: 1, limit: 5 } });
  await w.close();
  await r.close();
});

test('ws:m:query-cursor-window pages by id: after, before, limit; the order entry has no window', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send(batch('Cur', ['a', 'b', 'c', 'd', 'e', 'f']));
  await w.sync();
  r.send({ event: 'ws:m:query', data: { queryId: 'GetAllCurs', queryItemType: 'Cur', query: { tx: 'k' } } });
  await r.next(isResp('k', 0));

  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'k', window: { after: 'b', limit: 2 } } });
  const s1 = await r.next(isResp('k', 1));
  assert.deepEqual(order(s1), { kind: 'windowOrder', ids: ['c', 'd'], total_count: 6 });
  assert.equal('window' in s1.data, false, 'no offset window for a cursor page');
  assert.deepEqual(s1.data.deletes.sort(), ['a', 'b', 'e', 'f']);

  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'k', window: { before: 'e', limit: 3 } } });
  const s2 = await r.next(isResp('k', 2));
  assert.deepEqual(order(s2).ids, ['b', 'c', 'd']);
  assert.deepEqual(ids(s2), ['b']);
  assert.deepEqual(s2.data.deletes, []);

  // No cursor: the first `limit` ids. An id that does not exist still positions the page.
  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'k', window: { after: null, limit: 2 } } });
  assert.deepEqual(order(await r.next(isResp('k', 3))).ids, ['a', 'b']);
  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'k', window: { after: 'cc', limit: 10 } } });
  assert.deepEqual(order(await r.next(isResp('k', 4))).ids, ['d', 'e', 'f']);

  // The page stays keyed on its cursor while items come and go.
  w.send(set('Cur', { id: 'ccc' }));
  const s5 = await r.next(isResp('k', 5));
  assert.deepEqual(ids(s5), ['ccc']);
  assert.deepEqual(order(s5).ids, ['ccc', 'd', 'e', 'f']);

  // Bad cursor data: an error frame, the query carries on; an unknown tx: a query-error.
  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'k', window: { after: 'a' } } });
  const e = await r.next((f) => f.event === 'ws:m:error' && f.data.kind === 'ws:m:query-cursor-window');
  assert.match(e.data.message, /limit/);
  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'nope', window: { limit: 1 } } });
  const qe = await r.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'nope');
  assert.match(qe.data.message, /no live query with tx nope/);

  // Back to an offset window, then none: a fresh sequence 0 with everything.
  r.send({ event: 'ws:m:query-window', data: { tx: 'k', window: { offset: 0, limit: 1 } } });
  assert.deepEqual(order(await r.next(isResp('k', 6))), { kind: 'windowOrder', ids: ['a'], total_count: 7, window: { offset: 0, limit: 1 } });
  r.send({ event: 'ws:m:query-window', data: { tx: 'k', window: null } });
  await r.sync();
  const last = r.all('ws:m:query-response', 'k').at(-1)!;
  assert.equal(last.data.sequence, 0);
  assert.equal(last.data.upserts.length, 7);
  await w.close();
  await r.close();
});
