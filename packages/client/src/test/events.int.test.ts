import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type TestServer } from '@myko/server/testing';
import { getAll } from '../node.js';
import { closeClients, recorder, testClient, waitFor } from './support.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  closeClients();
  await ts.close();
});

test('1000 set() calls in one tick leave as 4 ws:m:event-batch frames of at most 256 events', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  await client.connected();
  // An independent raw client watches what the server stored and broadcast.
  const watcher = await TestClient.connect(ts.url);
  watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllFixtures', queryItemType: 'Fixture', query: { tx: 'w' } } });
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'w');

  const before = rec.sent.length;
  for (let i = 0; i < 1000; i++) client.set('Fixture', { id: `f${String(i).padStart(4, '0')}`, dmx: i });
  assert.equal(rec.sent.length, before, 'nothing leaves before the microtask ends');
  await Promise.resolve();
  const frames = rec.sent.slice(before);
  assert.deepEqual(frames.map((f) => f.event), Array(4).fill('ws:m:event-batch'));
  assert.deepEqual(frames.map((f) => f.data.length), [256, 256, 256, 232]);
  const e = frames[0]!.data[0];
  assert.deepEqual(Object.keys(e).sort(), ['changeType', 'createdAt', 'item', 'itemType', 'tx']);
  assert.equal(e.changeType, 'SET');
  assert.equal(e.itemType, 'Fixture');

  let seen = 0;
  await waitFor(() => {
    seen = watcher.all('ws:m:query-response', 'w').reduce((n, f) => n + f.data.upserts.length, 0);
    return seen >= 1000;
  }, 'the watcher to receive 1000 fixtures');
  assert.equal(seen, 1000);
  assert.equal(ts.server.state.count('Fixture'), 1000);

  for (let i = 0; i < 10; i++) client.del('Fixture', { id: `f${String(i).padStart(4, '0')}` });
  await Promise.resolve();
  assert.equal(rec.sent.at(-1)!.data.length, 10);
  assert.ok(rec.sent.at(-1)!.data.every((x: { changeType: string }) => x.changeType === 'DEL'));
  await waitFor(() => ts.server.state.count('Fixture') === 990, 'the deletes');
  await watcher.close();
  client.close();
});

test('maxBatchEvents is capped at 256: a larger value still sends frames of at most 256; a smaller one is kept', async () => {
  const rec = recorder();
  const big = testClient({ url: ts.url, transport: rec.transport, maxBatchEvents: 10_000 });
  await big.connected();
  let before = rec.sent.length;
  for (let i = 0; i < 600; i++) big.set('Knob', { id: `k${String(i).padStart(3, '0')}`, v: i });
  await Promise.resolve();
  assert.deepEqual(rec.sent.slice(before).map((f) => f.data.length), [256, 256, 88], 'capped to 256 per frame');
  await waitFor(() => ts.server.state.count('Knob') === 600, 'all 600 knobs stored');

  const small = testClient({ url: ts.url, transport: rec.transport, maxBatchEvents: 100 });
  await small.connected();
  before = rec.sent.length;
  for (let i = 0; i < 250; i++) small.set('Knob', { id: `k${String(i).padStart(3, '0')}`, v: -i });
  await Promise.resolve();
  assert.deepEqual(rec.sent.slice(before).map((f) => f.data.length), [100, 100, 50]);
  assert.throws(() => testClient({ url: ts.url, maxBatchEvents: 0 }), /maxBatchEvents must be a positive number/);
  await waitFor(() => ts.server.state.get('Knob', 'k249')?.v === -249, 'the second client\'s events');
  big.close();
  small.close();
});

test('immediateTypes go out at once as one ws:m:event, after the events already pending (order kept)', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport, immediateTypes: ['Pulse'] });
  await client.connected();
  const before = rec.sent.length;
  client.set('Fixture', { id: 'x1', dmx: 1 });
  client.set('Pulse', { id: 'e1', emitterId: 'e1', data: 0.5 });
  const now = rec.sent.slice(before);
  assert.deepEqual(now.map((f) => f.event), ['ws:m:event-batch', 'ws:m:event'], 'sent synchronously, batch first');
  assert.equal(now[1]!.data.itemType, 'Pulse');
  assert.equal(now[1]!.data.item.data, 0.5);
  await waitFor(() => ts.server.state.get('Pulse', 'e1') !== undefined, 'the pulse to arrive');
  client.close();
});

test('a command or query right after set() is sent after the events (read-your-writes)', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  await client.connected();
  client.set('Desk', { id: 'd1' });
  const first = await client.watchQuery(getAll('Desk')).first();
  assert.deepEqual([...first.items.keys()], ['d1']);
  const kinds = rec.sent.map((f) => f.event).filter((e) => e !== 'ws:m:ping' && e !== 'ws:m:query-cancel');
  assert.deepEqual(kinds.slice(-2), ['ws:m:event-batch', 'ws:m:query']);
  client.close();
});
