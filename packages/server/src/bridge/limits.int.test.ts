/**
 * The per-connection limits of /myko (README "Security and limits") on the
 * `$` and EventRPC endpoints: messages/s and events/s refused in each
 * protocol's own error shape, repeat offenders closed with a reason, the
 * live-query cap.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sleep, type TestServer } from '../testing/index.js';
import { JsonClient, type AnyMessage, eventRpcEnvelope } from '../testing/json-client.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer({
    config: { maxMessagesPerSecond: 50, maxMessagesBurst: 50, maxEventsPerSecond: 5, maxEventsBurst: 5, maxViolations: 20, maxLiveQueriesPerConnection: 3 },
  });
});
after(async () => {
  await ts.close();
});

const models = () => JsonClient.connect(ts.server.url('/models'));
const eventrpc = () => JsonClient.connect(ts.server.url('/eventrpc'));
const flatEvt = (key: string, target: string, payload?: unknown) => ({ $: 'evt', key, target: { key: target }, ...(payload !== undefined ? { payload } : {}) });
const rpc = eventRpcEnvelope;
const evtRes = (key: string) => (m: AnyMessage) => m.$ === 'evt-res' && m.key === key;
const result = (cid: string) => (m: AnyMessage) => m.type === 'result' && m['correlation-id'] === cid;

/** Send until the server closes the socket; its close code and reason. */
async function floodUntilClosed(c: JsonClient, frame: (i: number) => unknown): Promise<{ code: number; reason: string }> {
  for (let i = 0; i < 200 && c.ws.readyState === 1; i++) c.send(frame(i));
  return c.closed;
}

test('$ models: over messages/s each evt still gets its one evt-res, MYKO_RATE_LIMITED; a persistent flood is closed with 1008', async () => {
  const calm = await models();
  const flood = await models();
  const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
  for (const key of keys) flood.send(flatEvt(key, 'NoSuchHandler'));
  const answers = await Promise.all(keys.map((k) => flood.next(evtRes(k))));
  const limited = answers.filter((a) => a.code === 'MYKO_RATE_LIMITED');
  // How many depends on how fast the server reads the burst (the bucket refills meanwhile): at least one.
  assert.ok(limited.length >= 1, `some refused (${limited.length})`);
  assert.equal(limited[0]!.error, true);
  assert.match(limited[0]!.payload, /more than 50 messages per second/);
  assert.ok(answers.some((a) => a.code === 'MYKO_UNKNOWN_COMMAND'), 'those within the limit ran');
  await sleep(20);
  for (const k of keys) assert.equal(flood.all(evtRes(k)).length, 1, `exactly one evt-res for ${k}`);
  // Other messages are refused with {$:"error"}.
  flood.send({ $: 'unsub', keys: [] });
  const closed = await floodUntilClosed(flood, () => ({ $: 'unsub', keys: [] }));
  assert.ok(flood.all((m) => m.$ === 'error' && m.code === 'MYKO_RATE_LIMITED').length > 0);
  assert.deepEqual(closed, { code: 1008, reason: 'MYKO_RATE_LIMITED' });
  // Another connection is unaffected.
  calm.send(flatEvt('still', 'NoSuchHandler'));
  assert.equal((await calm.next(evtRes('still'))).code, 'MYKO_UNKNOWN_COMMAND');
  await calm.close();
});

test('$ models: writes over events/s are refused with an evt-res and store nothing', async () => {
  const c = await models();
  for (let i = 0; i < 12; i++) c.send(flatEvt(`w${i}`, 'set:Dot', { id: `m${i}` }));
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => c.next(evtRes(`w${i}`))));
  const refused = answers.filter((a) => a.code === 'MYKO_RATE_LIMITED');
  assert.ok(refused.length >= 1, `refused: ${refused.length}`);
  assert.match(refused[0]!.payload, /more than 5 events per second/);
  const stored = answers.filter((a) => !a.error).length;
  assert.equal(stored + refused.length, 12);
  assert.equal([...ts.server.state.all('Dot')].filter((d) => d.id.startsWith('m')).length, stored);
  await c.close();
});

test('$ models: a sub that would pass the live-query cap is refused whole; re-subscribing a key costs nothing', async () => {
  const c = await models();
  c.send({ $: 'sub', keys: ['Dot/a', 'Dot/b', 'Dot/c', 'Dot/d'] });
  const refused = await c.next((m) => m.$ === 'error');
  assert.equal(refused.code, 'MYKO_TOO_MANY_QUERIES');
  assert.match(refused.message, /4 more live queries .* exceed the limit of 3: none was started/);
  await sleep(30);
  assert.equal(c.all((m) => m.$ === 'up').length, 0, 'nothing subscribed');
  c.send({ $: 'sub', keys: ['Dot/a', 'Dot/b', 'Dot/c'] });
  await c.next((m) => m.$ === 'up' && m.key === 'Dot/c');
  c.send({ $: 'sub', keys: ['Dot/a'] }); // already live: not a new query
  c.send({ $: 'sub', keys: ['Dot/d'] });
  const over = await c.nextNew((m) => m.$ === 'error');
  assert.equal(over.code, 'MYKO_TOO_MANY_QUERIES');
  assert.equal(c.all((m) => m.$ === 'up' && m.key === 'Dot/a').length, 2);
  c.send({ $: 'unsub', keys: ['Dot/a'] });
  c.send({ $: 'sub', keys: ['Dot/d'] });
  await c.next((m) => m.$ === 'up' && m.key === 'Dot/d');
  await c.close();
});

test('EventRPC: over messages/s each request gets its one result, rejected MYKO_RATE_LIMITED; a persistent flood is closed with 1008', async () => {
  const flood = await eventrpc();
  const cids = Array.from({ length: 60 }, (_, i) => `r${i}`);
  for (const cid of cids) flood.send(rpc('command', { id: 'x', type: 'NoSuchCommand', data: {} }, cid));
  const answers = await Promise.all(cids.map((cid) => flood.next(result(cid))));
  const limited = answers.filter((a) => a.payload.code === 'MYKO_RATE_LIMITED');
  // How many depends on how fast the server reads the burst (the bucket refills meanwhile): at least one.
  assert.ok(limited.length >= 1, `some refused (${limited.length})`);
  assert.equal(limited[0]!.payload.status, 'rejected');
  assert.match(limited[0]!.payload.errors[0], /more than 50 messages per second/);
  await sleep(20);
  for (const cid of cids) assert.equal(flood.all(result(cid)).length, 1, `exactly one result for ${cid}`);
  const closed = await floodUntilClosed(flood, (i) => rpc('unsubscribe', {}, `u${i}`));
  assert.deepEqual(closed, { code: 1008, reason: 'MYKO_RATE_LIMITED' });
});

test('EventRPC: SET/DEL over events/s are rejected MYKO_RATE_LIMITED and store nothing', async () => {
  const c = await eventrpc();
  for (let i = 0; i < 12; i++) c.send(rpc('command', { id: `Dot/e${i}`, type: 'SET', data: {} }, `s${i}`));
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => c.next(result(`s${i}`))));
  const refused = answers.filter((a) => a.payload.code === 'MYKO_RATE_LIMITED');
  assert.ok(refused.length >= 1, `refused: ${refused.length}`);
  assert.equal(refused[0]!.payload.status, 'rejected');
  assert.match(refused[0]!.payload.errors[0], /more than 5 events per second/);
  const ok = answers.filter((a) => a.payload.status === 'ok').length;
  assert.equal(ok + refused.length, 12);
  assert.equal([...ts.server.state.all('Dot')].filter((d) => d.id.startsWith('e')).length, ok);
  await c.close();
});

test('EventRPC: subscriptions past the live-query cap are rejected MYKO_TOO_MANY_QUERIES; ending one makes room', async () => {
  const c = await eventrpc();
  c.send(rpc('subscribe', { to: 'aggregate', id: 'Dot/x' }, 'a'));
  c.send(rpc('subscribe', { to: 'event', id: 'Dot/x' }, 'b'));
  c.send(rpc('subscribe', { to: 'projection', id: 'GetAllDots/Dot' }, 'c'));
  c.send(rpc('subscribe', { to: 'aggregate', id: 'Dot/y' }, 'd'));
  for (const cid of ['a', 'b', 'c']) assert.equal((await c.next(result(cid))).payload.status, 'ok');
  const over = (await c.next(result('d'))).payload;
  assert.deepEqual([over.status, over.code], ['rejected', 'MYKO_TOO_MANY_QUERIES']);
  assert.match(over.errors[0], /limit is 3/);
  c.send(rpc('unsubscribe', { 'correlation-id': 'b' }, 'bye'));
  await c.next(result('bye'));
  c.send(rpc('subscribe', { to: 'aggregate', id: 'Dot/y' }, 'd'));
  assert.equal((await c.nextNew(result('d'))).payload.status, 'ok');
  await c.close();
});
