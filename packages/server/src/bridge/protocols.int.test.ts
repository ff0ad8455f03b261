/**
 * One state, three protocols: a write through any of Myko, `$` models and
 * EventRPC is validated, logged and seen by watchers on the other two.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type AnyFrame, type TestServer } from '../testing/index.js';
import { JsonClient, type AnyMessage, eventRpcEnvelope } from '../testing/json-client.js';
import { definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'protocols-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
});

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
});
after(async () => {
  await ts.close();
});

const rpc = eventRpcEnvelope;

/** The Myko watcher's view: the labels of its live query, folded from snapshot + diffs. */
function mykoLabels(frames: AnyFrame[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of frames) {
    if (f.event !== 'ws:m:query-response' || f.data?.tx !== 'cues') continue;
    if (f.data.sequence === 0) out.clear();
    for (const id of f.data.deletes) out.delete(id);
    for (const u of f.data.upserts) out.set(u.item.id, u.item.label);
  }
  return out;
}

test('a write through each protocol is seen through the other two', async () => {
  const myko = await TestClient.connect(ts.url);
  const models = await JsonClient.connect(ts.server.url('/models'));
  const eventrpc = await JsonClient.connect(ts.server.url('/eventrpc'));

  // Everyone watches every Cue.
  myko.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'cues' } } });
  models.send({ $: 'sub', keys: ['Cue'] });
  eventrpc.send(rpc('subscribe', { to: 'projection', id: 'GetAllCues/Cue' }, 'cues'));
  await myko.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'cues');
  await models.next((m) => m.$ === 'up' && m.key === 'Cue');
  await eventrpc.next((m) => m.type === 'update' && m['correlation-id'] === 'cues');

  const seenByMyko = (id: string, label: string | undefined) =>
    myko.next(() => mykoLabels(myko.frames).get(id) === label, 3000).catch(() => assert.fail(`Myko did not see ${id}=${label}`));
  const labelsIn = (items: { id: string; label: string }[]) => new Map(items.map((c) => [c.id, c.label]));
  const seenByModels = (id: string, label: string | undefined) =>
    models.next((m: AnyMessage) => m.$ === 'up' && m.key === 'Cue' && labelsIn(m.val).get(id) === label);
  const seenByEventRpc = (id: string, label: string | undefined) =>
    eventrpc.next((m: AnyMessage) => m.type === 'update' && m['correlation-id'] === 'cues' && labelsIn(m.payload.data).get(id) === label);

  // 1. Myko writes.
  myko.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'from-myko', label: 'M' } } });
  await seenByModels('from-myko', 'M');
  await seenByEventRpc('from-myko', 'M');

  // 2. `$` writes.
  models.send({ $: 'evt', key: 'w1', target: { key: 'set:Cue', component: 'Form', propKey: 'onSubmit', path: [] }, payload: { id: 'from-models', label: 'S' } });
  assert.equal((await models.next((m) => m.$ === 'evt-res' && m.key === 'w1')).error, undefined);
  await seenByMyko('from-models', 'S');
  await seenByEventRpc('from-models', 'S');

  // 3. EventRPC writes.
  eventrpc.send(rpc('command', { id: 'Cue/from-eventrpc', type: 'SET', data: { label: 'E' } }, 'w2'));
  assert.equal((await eventrpc.next((m) => m.type === 'result' && m['correlation-id'] === 'w2')).payload.status, 'ok');
  await seenByMyko('from-eventrpc', 'E');
  await seenByModels('from-eventrpc', 'E');

  // The same validation everywhere: a Cue without a label is refused by each protocol, and stored by none.
  myko.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'bad-myko' } } });
  assert.equal((await myko.next((f) => f.event === 'ws:m:error')).data.code, 'MYKO_BAD_EVENT');
  models.send({ $: 'evt', key: 'w3', target: { key: 'set:Cue' }, payload: { id: 'bad-models' } });
  assert.equal((await models.next((m) => m.$ === 'evt-res' && m.key === 'w3')).code, 'MYKO_BAD_EVENT');
  eventrpc.send(rpc('command', { id: 'Cue/bad-eventrpc', type: 'SET', data: {} }, 'w4'));
  assert.equal((await eventrpc.next((m) => m.type === 'result' && m['correlation-id'] === 'w4')).payload.code, 'MYKO_BAD_EVENT');

  // Deletes cross over too, each protocol deleting what another wrote.
  models.send({ $: 'evt', key: 'w5', target: { key: 'del:Cue' }, payload: 'from-myko' });
  eventrpc.send(rpc('command', { id: 'Cue/from-models', type: 'DEL', data: {} }, 'w6'));
  myko.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'from-eventrpc' } } });
  await seenByMyko('from-myko', undefined);
  await seenByMyko('from-models', undefined);
  await seenByModels('from-eventrpc', undefined);
  await eventrpc.next((m) => m.type === 'update' && m['correlation-id'] === 'cues' && m.payload.data.length === 0);

  // One log: six Cue events, each with the connection that sent it.
  const log = (await ts.server.store.readAfter(0, 100_000)).filter((e) => e.itemType === 'Cue');
  assert.deepEqual(
    log.map((e) => `${e.changeType} ${e.item.id}`),
    ['SET from-myko', 'SET from-models', 'SET from-eventrpc', ...log.slice(3).map((e) => `${e.changeType} ${e.item.id}`)],
  );
  assert.equal(log.length, 6);
  assert.deepEqual(new Set(log.slice(3).map((e) => `${e.changeType} ${e.item.id}`)), new Set(['DEL from-myko', 'DEL from-models', 'DEL from-eventrpc']));
  const clients = new Set(log.map((e) => e.clientId));
  assert.equal(clients.size, 3, 'three distinct connections wrote');
  for (const id of clients) assert.ok(ts.server.state.get('Client', id!), `writer ${id} is a live Client`);

  await Promise.all([myko.close(), models.close(), eventrpc.close()]);
});
