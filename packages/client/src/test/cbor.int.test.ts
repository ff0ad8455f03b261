import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { defineCommand, definePlugin } from '@myko/server';
import { startTestServer, type TestServer } from '@myko/server/testing';
import { getAll } from '../node.js';
import { closeClients, recorder, testClient, valueWhere } from './support.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({
    plugins: [definePlugin({ name: 'echo', commands: [defineCommand({ id: 'Echo', handler: (p) => p })] })],
  });
});
after(async () => {
  closeClients();
  await ts.close();
});

test("encoding: 'cbor' sends binary frames, the server answers in CBOR, and values round trip", async () => {
  const rec = recorder();
  const client = testClient<{ Echo: { params: Record<string, unknown>; response: Record<string, unknown> } }>({
    url: ts.url,
    transport: rec.transport,
    encoding: 'cbor',
  });
  await client.connected();
  const item = { id: 'cue-ü', label: 'Grüße 🎭', level: 0.75, big: 2 ** 40, neg: -3, list: [1, 'two', { three: true }], nested: { a: null } };
  const live = client.watchQuery(getAll('Cue'));
  const stop = live.subscribe(() => undefined);
  client.set('Cue', item);
  const r = await valueWhere(live, (x) => x.items.has('cue-ü'), 'the item back');
  const { hash, ...back } = r.items.get('cue-ü')!;
  assert.equal(typeof hash, 'string');
  assert.deepEqual(back, item);

  const echoed = await client.sendCommand('Echo', { nested: { deep: [1.5, 'x'] }, flag: false });
  assert.deepEqual(echoed, { nested: { deep: [1.5, 'x'] }, flag: false });

  assert.ok(rec.sent.length > 0 && rec.sent.every((f) => f.binary), 'every frame we sent was binary CBOR');
  const firstSent = rec.received.findIndex((f) => f.event === 'ws:m:query-response');
  assert.ok(firstSent > 0);
  assert.ok(rec.received.slice(firstSent).every((f) => f.binary), 'after our first binary frame the server answers in CBOR');
  assert.equal(rec.received[0]!.binary, false, 'the client id came as JSON before that');
  stop();
  client.close();
});
