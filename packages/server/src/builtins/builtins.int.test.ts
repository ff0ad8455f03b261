/**
 * The reference server's built-ins (WIRE.md 6.5) over real sockets: per-type
 * reports and deletes, the framework queries, reports and commands, and
 * `ws:m:benchmark`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, testPostgres, TestClient, sleep, type AnyFrame, type TestServer, until } from '../testing/index.js';
import { definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'builtins-test',
  // An executor's fixtures: the client that writes one owns it while connected.
  itemTypes: [{ name: 'Fixture', claimedByWriter: true }],
});

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
});
after(async () => {
  await ts.close();
});

let n = 0;
const txOf = (prefix: string) => `${prefix}-${++n}`;
const cue = (id: string, group: string) => ({ itemType: 'Cue', changeType: 'SET', item: { id, group } });

/** Subscribe a report; returns its tx. */
function watchReport(c: TestClient, reportId: string, params: Record<string, unknown> = {}): string {
  const tx = txOf(reportId);
  c.send({ event: 'ws:m:report', data: { reportId, report: { tx, ...params } } });
  return tx;
}
const reportIs = (tx: string, pred: (v: any) => boolean) => (f: AnyFrame) =>
  f.event === 'ws:m:report-response' && f.data.tx === tx && pred(f.data.response);
const values = (c: TestClient, tx: string) => c.all('ws:m:report-response', tx).map((f) => f.data.response);

/** Run a command: the response frame or the error frame. */
async function command(c: TestClient, commandId: string, params: Record<string, unknown> = {}): Promise<AnyFrame> {
  const tx = txOf(commandId);
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  return c.next((f) => (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error') && f.data.tx === tx);
}


test('CountAll{X}s and Count{X}s {...query} are live counts; Count takes the params of GetXsByQuery', async () => {
  const c = await TestClient.connect(ts.url);
  const all = watchReport(c, 'CountAllCues');
  const a = watchReport(c, 'CountCues', { group: 'a' });
  const none = watchReport(c, 'CountCues', {});
  await c.next(reportIs(all, (v) => v.count === 0));
  await c.next(reportIs(a, (v) => v.count === 0));
  c.send({ event: 'ws:m:event-batch', data: [cue('c1', 'a'), cue('c2', 'b'), cue('c3', 'a')] });
  await c.next(reportIs(all, (v) => v.count === 3));
  await c.next(reportIs(a, (v) => v.count === 2));
  await c.next(reportIs(none, (v) => v.count === 3));
  // A change that moves an item out of the filter.
  c.send({ event: 'ws:m:event', data: cue('c1', 'b') });
  await c.next(reportIs(a, (v) => v.count === 1));
  // Writes to another type leave the counts unsent (same value).
  const before = values(c, all).length;
  c.send({ event: 'ws:m:event', data: { itemType: 'Lamp', changeType: 'SET', item: { id: 'l1' } } });
  await c.sync();
  assert.equal(values(c, all).length, before);
  c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'c2' } } });
  await c.next(reportIs(all, (v) => v.count === 2));
  assert.deepEqual(values(c, a), [{ count: 0 }, { count: 2 }, { count: 1 }]);
  await c.close();
  await ts.server.emit(['c1', 'c3'].map((id) => ({ itemType: 'Cue', changeType: 'DEL' as const, item: { id } })));
});

test('Get{X}ById is null, then the item, then null again when it is deleted', async () => {
  const c = await TestClient.connect(ts.url);
  const tx = watchReport(c, 'GetCueById', { id: 'g1' });
  await c.next(reportIs(tx, (v) => v === null));
  c.send({ event: 'ws:m:event', data: cue('g1', 'x') });
  const got = await c.next(reportIs(tx, (v) => v !== null));
  assert.equal(got.data.response.id, 'g1');
  assert.equal(got.data.response.group, 'x');
  c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'g1' } } });
  await c.nextNew(reportIs(tx, (v) => v === null));
  // No id: a report error naming the param.
  const bad = txOf('bad');
  c.send({ event: 'ws:m:report', data: { reportId: 'GetCueById', report: { tx: bad } } });
  const err = await c.next((f) => f.event === 'ws:m:report-error' && f.data.tx === bad);
  assert.match(err.data.message, /params\.id/);
  await c.close();
});

test('Delete{X} {id}: {deleted: true}, MYKO_NOT_FOUND when absent; Delete{X}s {ids}: {deletedCount} in one commit', async () => {
  const c = await TestClient.connect(ts.url);
  const missing = await command(c, 'DeleteCue', { id: 'nope' });
  assert.equal(missing.event, 'ws:m:command-error');
  assert.equal(missing.data.code, 'MYKO_NOT_FOUND');
  assert.equal(missing.data.commandId, 'DeleteCue');

  c.send({ event: 'ws:m:event-batch', data: [cue('d1', 'a'), cue('d2', 'a'), cue('d3', 'a'), cue('d4', 'a')] });
  await c.sync();
  const one = await command(c, 'DeleteCue', { id: 'd1' });
  assert.deepEqual(one.data.response, { deleted: true });
  assert.equal(ts.server.state.get('Cue', 'd1'), undefined);

  const position = ts.server.writer.position;
  const many = await command(c, 'DeleteCues', { ids: ['d2', 'd3', 'gone', 'd2'] });
  assert.deepEqual(many.data.response, { deletedCount: 2 });
  assert.equal(ts.server.state.get('Cue', 'd2'), undefined);
  assert.equal(ts.server.state.get('Cue', 'd3'), undefined);
  assert.ok(ts.server.state.get('Cue', 'd4'));
  // Both DELs in one transaction: consecutive positions, the same tx.
  const logged = (await ts.server.store.readAfter(position, 10)).filter((e) => e.itemType === 'Cue');
  assert.deepEqual(logged.map((e) => e.item.id), ['d2', 'd3']);
  assert.equal(logged[0]!.tx, logged[1]!.tx);
  assert.deepEqual((await command(c, 'DeleteCues', { ids: [] })).data.response, { deletedCount: 0 });
  const badIds = await command(c, 'DeleteCues', { ids: [1] });
  assert.equal(badIds.data.code, 'MYKO_BAD_COMMAND');
  await c.close();
  await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'd4' } });
});

test('Delete{X} / Delete{X}s: refused for an item another live client owns, as its DEL event would be', async () => {
  const executor = await TestClient.connect(ts.url);
  const other = await TestClient.connect(ts.url);
  executor.send({ event: 'ws:m:event', data: { itemType: 'Fixture', changeType: 'SET', item: { id: 'fx1' } } });
  await executor.sync();
  const one = await command(other, 'DeleteFixture', { id: 'fx1' });
  assert.equal(one.event, 'ws:m:command-error');
  assert.equal(one.data.code, 'MYKO_FORBIDDEN');
  const many = await command(other, 'DeleteFixtures', { ids: ['fx1'] });
  assert.equal(many.data.code, 'MYKO_FORBIDDEN');
  assert.ok(ts.server.state.get('Fixture', 'fx1'), 'still there');
  // Server-managed types cannot be deleted this way either.
  const client = await command(other, 'DeleteClient', { id: executor.clientId! });
  assert.equal(client.data.code, 'MYKO_FORBIDDEN');
  // The owner itself may.
  assert.deepEqual((await command(executor, 'DeleteFixture', { id: 'fx1' })).data.response, { deleted: true });
  await executor.close();
  await other.close();
});

test('single server: no peers; GetConnectedServer and ServerStats.server are its own Server item; ClientStatus', async () => {
  const c = await TestClient.connect(ts.url);
  const peers = txOf('GetPeerServers');
  c.send({ event: 'ws:m:query', data: { queryId: 'GetPeerServers', queryItemType: 'Server', query: { tx: peers } } });
  const p0 = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === peers);
  assert.deepEqual([p0.data.sequence, p0.data.upserts, p0.data.totalCount], [0, [], 0], 'GetPeerServers');
  // A lone server publishes its Server item as a cluster member does (the reference client reads it).
  const me = txOf('GetConnectedServer');
  c.send({ event: 'ws:m:query', data: { queryId: 'GetConnectedServer', queryItemType: 'Server', query: { tx: me } } });
  const m0 = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === me);
  assert.equal(m0.data.totalCount, 1);
  const self = m0.data.upserts[0].item;
  assert.equal(self.id, ts.server.serverId);
  assert.equal(self.port, ts.server.port);
  assert.equal(typeof self.version, 'string');
  assert.equal(typeof self.startedAt, 'string');
  // The clients of the tests before this one may still be retiring: count from when only `c` is left.
  await until(() => ts.server.state.count('Client') === 1, 5000, 'earlier clients retired');
  const stats = watchReport(c, 'ServerStats');
  const first = await c.next(reportIs(stats, (v) => v.clientCount === 1));
  assert.equal(first.data.response.server.id, ts.server.serverId);
  assert.equal(typeof first.data.response.uptimeSeconds, 'number');
  const base = 1;

  const d = await TestClient.connect(ts.url);
  const status = watchReport(c, 'ClientStatus', { clientId: d.clientId });
  await c.next(reportIs(status, (v) => v.online === true));
  await c.next(reportIs(stats, (v) => v.clientCount === base + 1));
  await d.close();
  await c.next(reportIs(status, (v) => v.online === false));
  await c.next(reportIs(stats, (v) => v.clientCount === base));
  const never = watchReport(c, 'ClientStatus', { clientId: 'no-such-client' });
  await c.next(reportIs(never, (v) => v.online === false));
  await c.close();
});

test('SetClientWindbackTime / ClearClientWindbackTime: kept on the caller\'s Client item, reported by WindbackStatus', async () => {
  const c = await TestClient.connect(ts.url);
  const other = await TestClient.connect(ts.url);
  const mine = watchReport(c, 'WindbackStatus');
  const theirs = watchReport(other, 'WindbackStatus');
  await c.next(reportIs(mine, (v) => v.windback === null));
  await other.next(reportIs(theirs, (v) => v.windback === null));
  const at = '2026-12-01T20:00:00.000Z';
  assert.equal((await command(c, 'SetClientWindbackTime', { windback: at })).data.response, true);
  await c.next(reportIs(mine, (v) => v.windback === at));
  assert.equal(ts.server.state.get('Client', c.clientId!)?.windback, at);
  assert.equal(ts.server.state.get('Client', c.clientId!)?.connectedAt !== undefined, true, 'other fields kept');
  // Another client's status is its own.
  await other.sync();
  assert.deepEqual(values(other, theirs), [{ windback: null }]);
  const bad = await command(c, 'SetClientWindbackTime', { windback: 'yesterday-ish' });
  assert.equal(bad.data.code, 'MYKO_BAD_COMMAND');
  assert.equal((await command(c, 'ClearClientWindbackTime')).data.response, true);
  await until(() => values(c, mine).at(-1)?.windback === null, 3000, 'windback cleared in the report');
  assert.deepEqual(values(c, mine), [{ windback: null }, { windback: at }, { windback: null }]);
  assert.equal(ts.server.state.get('Client', c.clientId!)?.windback, null);
  await c.close();
  await other.close();
});

test('ws:m:benchmark: counted in /metrics, never answered, the connection carries on', async () => {
  const c = await TestClient.connect(ts.url);
  const base = ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
  const count = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(/^myko_benchmark_frames_total (\d+)/m.exec(text)?.[1]);
  };
  const before = await count();
  const received = c.frames.length;
  c.send({ event: 'ws:m:benchmark', data: { payload: 'x'.repeat(100) } });
  c.send({ event: 'ws:m:benchmark', data: null });
  c.sendCbor({ event: 'ws:m:benchmark', data: [1, 2, 3] });
  await c.sync();
  assert.deepEqual(c.frames.slice(received).map((f) => f.event), ['ws:m:ping'], 'nothing but the ping echo');
  assert.equal(await count(), before + 3);
  const tx = watchReport(c, 'CountAllCues');
  await c.next(reportIs(tx, (v) => typeof v.count === 'number'));
  await c.close();
});

test('cluster of two (PostgreSQL): GetPeerServers is the other member, GetConnectedServer this one', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const s1 = await startTestServer({ config: { postgresUrl: db.url, postgresSchema: db.schema } });
  const s2 = await startTestServer({ config: { postgresUrl: db.url, postgresSchema: db.schema } });
  try {
    const c = await TestClient.connect(s1.url);
    const items = (tx: string) => {
      const m = new Map<string, any>();
      for (const f of c.all('ws:m:query-response', tx)) {
        if (f.data.sequence === 0) m.clear();
        for (const u of f.data.upserts) m.set(u.item.id, u.item);
        for (const id of f.data.deletes) m.delete(id);
      }
      return m;
    };
    c.send({ event: 'ws:m:query', data: { queryId: 'GetPeerServers', queryItemType: 'Server', query: { tx: 'peers' } } });
    c.send({ event: 'ws:m:query', data: { queryId: 'GetConnectedServer', queryItemType: 'Server', query: { tx: 'me' } } });
    await until(() => items('peers').has(s2.server.serverId), 10_000, 's2 among the peers of s1');
    await until(() => items('me').has(s1.server.serverId), 5000, 's1 as the connected server');
    assert.deepEqual([...items('peers').keys()], [s2.server.serverId]);
    assert.deepEqual([...items('me').keys()], [s1.server.serverId]);
    const peer = items('peers').get(s2.server.serverId);
    assert.equal(peer.port, s2.server.port);
    const stats = watchReport(c, 'ServerStats');
    const r = await c.next(reportIs(stats, (v) => v.server !== null));
    assert.equal(r.data.response.server.id, s1.server.serverId);
    // A client on the other member is online from here.
    const d = await TestClient.connect(s2.url);
    const status = watchReport(c, 'ClientStatus', { clientId: d.clientId });
    await c.next(reportIs(status, (v) => v.online === true), 10_000);
    await d.close();
    await c.next(reportIs(status, (v) => v.online === false), 10_000);
    // The peer leaves: it leaves the result.
    await s2.close();
    await until(() => items('peers').size === 0, 10_000, 's2 gone from the peers');
    await c.close();
  } finally {
    await s2.close();
    await s1.close();
    await db.drop();
  }
});
