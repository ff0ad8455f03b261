import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { startTestServer, TestClient, type TestServer, type AnyFrame } from '../testing/index.js';
import { defineView, definePlugin } from '../core/registry.js';

/**
 * Views (WIRE.md 6.3) with a test plugin: a summary per shelf (a type never
 * stored, rebuilt whole), book cards (incremental: only the changed book is
 * rebuilt), and a view whose code fails.
 */

const builds = { summaries: 0, cards: 0 };

const shelfSummaries = defineView<Record<string, never>, MItem>({
  id: 'GetShelfSummaries',
  itemType: 'ShelfSummary',
  dependsOn: () => ['Book'],
  build(_p, state) {
    builds.summaries++;
    const byShelf = new Map<string, string[]>();
    for (const b of state.all('Book')) {
      const shelf = String(b.shelfId);
      byShelf.set(shelf, [...(byShelf.get(shelf) ?? []), String(b.title ?? '')]);
    }
    return [...byShelf].map(([id, titles]) => ({ id, count: titles.length, titles: titles.sort() }));
  },
});

const bookCards = defineView<{ genre?: string }, MItem>({
  id: 'GetBookCards',
  itemType: 'BookCard',
  params: { type: 'object', properties: { genre: { type: 'string' } }, additionalProperties: false },
  dependsOn: () => ['Book'],
  build(p, state) {
    builds.cards++;
    return [...state.all('Book')].flatMap((b) => this.item!(b.id, p, state) ?? []);
  },
  affects: (c) => [c.id],
  item(id, p, state) {
    const b = state.get('Book', id);
    if (!b || (p.genre !== undefined && b.genre !== p.genre)) return undefined;
    return { id, label: `${String(b.title)} (${String(b.shelfId)})` };
  },
});

const fragile = defineView({
  id: 'GetFragile',
  itemType: 'Shard',
  dependsOn: () => ['Bomb'],
  build(_p, state) {
    if ([...state.all('Bomb')].some((b) => b.armed)) throw new Error('the bomb went off');
    return [...state.all('Bomb')].map((b) => ({ id: b.id }));
  },
});

let ts: TestServer;
let small: TestServer;
before(async () => {
  const plugins = [definePlugin({ name: 'views-test', views: [shelfSummaries, bookCards, fragile] })];
  ts = await startTestServer({ plugins });
  small = await startTestServer({ plugins, config: { maxLiveQueriesPerConnection: 2 } });
});
after(async () => {
  await ts.close();
  await small.close();
});

const book = (id: string, shelfId: string, title: string, genre = 'novel') => ({
  itemType: 'Book',
  changeType: 'SET',
  item: { id, shelfId, title, genre },
});
const view = (tx: string, viewId: string, params: Record<string, unknown> = {}, window?: unknown) => ({
  event: 'ws:m:view',
  data: { viewId, viewItemType: 'X', view: { tx, createdAt: new Date().toISOString(), ...params }, ...(window ? { window } : {}) },
});
const isView = (tx: string, seq?: number) => (f: AnyFrame) =>
  f.event === 'ws:m:view-response' && f.data?.tx === tx && (seq === undefined || f.data.sequence === seq);
const isViewError = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:view-error' && f.data?.tx === tx;

test('a view is live: sequence 0 is the whole result of its own item type, then only what changed, nothing when nothing visible changed', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event-batch', data: [book('b1', 's1', 'Emma'), book('b2', 's1', 'Dune'), book('b3', 's2', 'Ulysses')] });
  await w.sync();
  r.send(view('sum', 'GetShelfSummaries'));
  const s0 = await r.next(isView('sum', 0));
  assert.equal(s0.data.totalCount, 2);
  assert.deepEqual(s0.data.deletes, []);
  assert.deepEqual(
    s0.data.upserts.sort((a: any, b: any) => (a.item.id < b.item.id ? -1 : 1)),
    [
      { itemType: 'ShelfSummary', item: { id: 's1', count: 2, titles: ['Dune', 'Emma'] } },
      { itemType: 'ShelfSummary', item: { id: 's2', count: 1, titles: ['Ulysses'] } },
    ],
  );
  assert.equal(r.all('ws:m:query-response').length, 0, 'views answer with ws:m:view-response');

  // One book moves shelf: only s2 and the new s3 summary change; s1 is not re-sent.
  w.send({ event: 'ws:m:event', data: book('b3', 's3', 'Ulysses') });
  const s1 = await r.next(isView('sum', 1));
  assert.deepEqual(s1.data.upserts, [{ itemType: 'ShelfSummary', item: { id: 's3', count: 1, titles: ['Ulysses'] } }]);
  assert.deepEqual(s1.data.deletes, ['s2']);

  // A change that leaves every summary equal (the genre is not in them), an unrelated type: nothing is sent.
  const before = builds.summaries;
  w.send({ event: 'ws:m:event', data: book('b1', 's1', 'Emma', 'classic') });
  for (let i = 0; i < 20; i++) w.send({ event: 'ws:m:event', data: { itemType: 'Pulse', changeType: 'SET', item: { id: 'p', v: i } } });
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:view-response', 'sum').length, 2);
  assert.equal(builds.summaries - before, 1, 'rebuilt once for the Book change, never for the 20 Pulses');

  // The same tx again on this connection: ignored. Cancel: no more responses.
  r.send(view('sum', 'GetShelfSummaries'));
  await r.sync();
  assert.equal(r.all('ws:m:view-response', 'sum').length, 2);
  r.send({ event: 'ws:m:view-cancel', data: { tx: 'sum' } });
  w.send({ event: 'ws:m:event', data: book('b4', 's4', 'Odyssey') });
  await w.sync();
  await r.sync();
  assert.equal(r.all('ws:m:view-response', 'sum').length, 2);

  // The same tx on a new connection (what the reference client does after a reconnect): a fresh sequence 0.
  const r2 = await TestClient.connect(ts.url);
  r2.send(view('sum', 'GetShelfSummaries'));
  const again = await r2.next(isView('sum', 0));
  assert.deepEqual(again.data.upserts.map((u: any) => u.item.id).sort(), ['s1', 's3', 's4']);
  await Promise.all([w.close(), r.close(), r2.close()]);
});

test('an incremental view rebuilds only the items a change names; params filter it', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event-batch', data: [book('c1', 'x', 'Alpha', 'poem'), book('c2', 'x', 'Beta', 'poem'), book('c3', 'y', 'Gamma')] });
  await w.sync();
  r.send(view('cards', 'GetBookCards', { genre: 'poem', seq: 0, userToken: null }));
  const s0 = await r.next(isView('cards', 0));
  assert.deepEqual(s0.data.upserts.map((u: any) => u.item.id).sort(), ['c1', 'c2']);
  assert.equal(s0.data.upserts[0].itemType, 'BookCard');
  const fullBuilds = builds.cards;
  w.send({ event: 'ws:m:event', data: book('c2', 'z', 'Beta', 'poem') });
  const s1 = await r.next(isView('cards', 1));
  assert.deepEqual(s1.data.upserts, [{ itemType: 'BookCard', item: { id: 'c2', label: 'Beta (z)' } }]);
  w.send({ event: 'ws:m:event', data: book('c1', 'x', 'Alpha', 'prose') });
  const s2 = await r.next(isView('cards', 2));
  assert.deepEqual(s2.data.deletes, ['c1'], 'c1 stopped matching the param');
  assert.equal(builds.cards, fullBuilds, 'no whole rebuild for single-item changes');
  await Promise.all([w.close(), r.close()]);
});

test('a windowed view: windowOrder on every response, view-window moves it, clearing it answers a fresh sequence 0', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  w.send({ event: 'ws:m:event-batch', data: ['d1', 'd2', 'd3', 'd4'].map((id) => book(id, 'w', id, 'win')) });
  await w.sync();
  r.send(view('wv', 'GetBookCards', { genre: 'win' }, { offset: 1, limit: 2 }));
  const s0 = await r.next(isView('wv', 0));
  assert.deepEqual(s0.data.changes, [{ kind: 'windowOrder', ids: ['d2', 'd3'], total_count: 4, window: { offset: 1, limit: 2 } }]);
  w.send({ event: 'ws:m:event', data: book('d0', 'w', 'd0', 'win') });
  const s1 = await r.next(isView('wv', 1));
  assert.deepEqual(s1.data.changes[0].ids, ['d1', 'd2']);
  assert.deepEqual(s1.data.deletes, ['d3']);
  assert.deepEqual(s1.data.upserts.map((u: any) => u.item.id), ['d1']);
  r.send({ event: 'ws:m:view-window', data: { tx: 'wv', window: { offset: 3, limit: 5 } } });
  const s2 = await r.next(isView('wv', 2));
  assert.deepEqual(s2.data.changes[0], { kind: 'windowOrder', ids: ['d3', 'd4'], total_count: 5, window: { offset: 3, limit: 5 } });
  r.send({ event: 'ws:m:query-cursor-window', data: { tx: 'wv', window: { after: 'd0', limit: 1 } } });
  assert.deepEqual((await r.next(isView('wv', 3))).data.changes[0].ids, ['d1']);
  r.send({ event: 'ws:m:view-window', data: { tx: 'wv' } });
  await r.sync();
  const last = r.all('ws:m:view-response', 'wv').at(-1)!;
  assert.equal(last.data.sequence, 0);
  assert.deepEqual(last.data.upserts.map((u: any) => u.item.id).sort(), ['d0', 'd1', 'd2', 'd3', 'd4']);
  assert.equal(last.data.changes, undefined);
  r.send({ event: 'ws:m:view-window', data: { tx: 'never', window: { offset: 0, limit: 1 } } });
  assert.match((await r.next(isViewError('never'))).data.message, /no live view with tx never/);
  await Promise.all([w.close(), r.close()]);
});

test('ws:m:view-error {tx, viewId, message}: unknown view, bad params, a view that throws (at start or later); the connection stays up', async () => {
  const w = await TestClient.connect(ts.url);
  const r = await TestClient.connect(ts.url);
  r.send(view('u', 'GetNothingAtAll'));
  assert.deepEqual((await r.next(isViewError('u'))).data, { tx: 'u', viewId: 'GetNothingAtAll', message: 'unknown view GetNothingAtAll' });
  r.send(view('p', 'GetBookCards', { genre: 7 }));
  const p = await r.next(isViewError('p'));
  assert.equal(p.data.viewId, 'GetBookCards');
  assert.match(p.data.message, /genre/);
  r.send(view('p2', 'GetBookCards', { colour: 'red' }));
  assert.match((await r.next(isViewError('p2'))).data.message, /colour|additional/);
  // No viewItemType: the view's own is used (liberal: the server knows it).
  r.send({ event: 'ws:m:view', data: { viewId: 'GetBookCards', view: { tx: 'noType' } } });
  assert.equal((await r.next(isView('noType', 0))).data.sequence, 0);
  r.send({ event: 'ws:m:view', data: { viewId: 'GetBookCards', viewItemType: 'BookCard', view: { tx: 'badWin' }, window: { offset: -1, limit: 2 } } });
  assert.match((await r.next(isViewError('badWin'))).data.message, /offset/);

  // Fails later: one view-error, then the subscription is gone (the reference client ends it too).
  r.send(view('f', 'GetFragile'));
  await r.next(isView('f', 0));
  w.send({ event: 'ws:m:event', data: { itemType: 'Bomb', changeType: 'SET', item: { id: 'bomb', armed: true } } });
  const f = await r.next(isViewError('f'));
  assert.deepEqual(f.data, { tx: 'f', viewId: 'GetFragile', message: 'GetFragile failed: the bomb went off' });
  w.send({ event: 'ws:m:event', data: { itemType: 'Bomb', changeType: 'SET', item: { id: 'bomb2' } } });
  await w.sync();
  // Fails at start.
  r.send(view('f2', 'GetFragile'));
  assert.match((await r.next(isViewError('f2'))).data.message, /the bomb went off/);
  await r.sync();
  assert.equal(r.all('ws:m:view-error', 'f').length, 1);
  assert.equal(r.all('ws:m:view-response', 'f').length, 1);
  assert.equal(r.all('ws:m:view-response', 'f2').length, 0);
  // Still connected and serving.
  r.send(view('ok', 'GetShelfSummaries'));
  await r.next(isView('ok', 0));
  await Promise.all([w.close(), r.close()]);
});

test('views count against the live-query limit of a connection, with queries and reports', async () => {
  const r = await TestClient.connect(small.url);
  r.send(view('v1', 'GetShelfSummaries'));
  await r.next(isView('v1', 0));
  r.send({ event: 'ws:m:query', data: { queryId: 'GetAllBooks', queryItemType: 'Book', query: { tx: 'q1' } } });
  await r.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'q1');
  r.send(view('v2', 'GetShelfSummaries'));
  assert.match((await r.next(isViewError('v2'))).data.message, /MYKO_TOO_MANY_QUERIES/);
  r.send({ event: 'ws:m:view-cancel', data: { tx: 'v1' } });
  r.send(view('v3', 'GetShelfSummaries'));
  await r.next(isView('v3', 0));
  await r.close();
});

test('a seed-dialect client gets a view whole, in the seed shape', async () => {
  const r = await TestClient.connect(`${ts.url}?dialect=seed`);
  r.send({ event: 'ws:m:view', data: { viewId: 'GetShelfSummaries', viewItemType: 'ShelfSummary', view: { tx: 'seedv' }, clientId: r.clientId } });
  const f = await r.next((x) => x.event === 'ws:m:view-response' && x.tx === 'seedv');
  assert.ok(Array.isArray(f.data));
  assert.ok(f.data.every((w: any) => w.itemType === 'ShelfSummary' && typeof w.item.id === 'string'));
  await r.close();
});
