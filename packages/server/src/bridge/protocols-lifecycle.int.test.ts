/**
 * The `$` and EventRPC sockets under the same lifecycle rules as Myko ones:
 * backpressure through the live engine, owned items retired on disconnect,
 * closed when the server stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sleep } from '../testing/index.js';
import { JsonClient, eventRpcEnvelope } from '../testing/json-client.js';
import { definePlugin } from '../core/registry.js';

const payload = 'x'.repeat(2000);
const rpc = eventRpcEnvelope;

test('slow `$` and EventRPC readers get coalesced updates and then the final state', async () => {
  const ts = await startTestServer({ config: { sendHighWaterBytes: 16 * 1024, sendMaxBufferedBytes: 256 * 1024 * 1024, slowConsumerTimeoutMs: 60_000 } });
  try {
    const models = await JsonClient.connect(ts.server.url('/models'));
    const eventrpc = await JsonClient.connect(ts.server.url('/eventrpc'));
    models.send({ $: 'sub', keys: ['Fader/f0', 'Fader'] });
    eventrpc.send(rpc('subscribe', { to: 'aggregate', id: 'Fader/f0' }, 'f0'));
    eventrpc.send(rpc('subscribe', { to: 'projection', id: 'GetAllFaders/Fader' }, 'all'));
    await models.next((m) => m.$ === 'up' && m.key === 'Fader');
    await eventrpc.next((m) => m.type === 'update' && m['correlation-id'] === 'all');
    const socks = [models.socket, eventrpc.socket];
    for (const s of socks) s.pause();
    // The kernel takes several MB for a paused reader before the server has to hold anything back
    // (about 7 MB measured here on loopback): fill it first with one large change both readers
    // receive, so each stays congested while the rounds below are written, however fast they commit.
    await ts.server.emit([{ itemType: 'Fader', changeType: 'SET', item: { id: 'f19', round: -1, payload: 'y'.repeat(16 << 20) } }]);
    // 20 faders, each moved 100 times: 2,000 changes of ~2 KB, one batch per round.
    for (let round = 0; round < 100; round++)
      await ts.server.emit(Array.from({ length: 20 }, (_, i) => ({ itemType: 'Fader', changeType: 'SET' as const, item: { id: `f${i}`, round, payload } })));
    await sleep(200);
    for (const s of socks) s.resume();
    await models.next((m) => m.$ === 'up' && m.key === 'Fader/f0' && m.val?.round === 99, 5000);
    await models.next((m) => m.$ === 'up' && m.key === 'Fader' && m.val.length === 20 && m.val.every((f: { round: number }) => f.round === 99), 5000);
    const last = await eventrpc.next((m) => m.type === 'update' && m['correlation-id'] === 'f0' && m.payload.data?.round === 99, 5000);
    await eventrpc.next((m) => m.type === 'update' && m['correlation-id'] === 'all' && m.payload.data.every((f: { round: number }) => f.round === 99), 5000);
    assert.equal(last.payload.version, 100, 'the version counts every change, however many updates were skipped');
    const itemUps = models.all((m) => m.$ === 'up' && m.key === 'Fader/f0').length;
    const rpcUpdates = eventrpc.all((m) => m.type === 'update' && m['correlation-id'] === 'f0').length;
    assert.ok(itemUps < 100, `coalesced: ${itemUps} ups for 100 changes`);
    assert.ok(rpcUpdates < 100, `coalesced: ${rpcUpdates} updates for 100 changes`);
    await models.close();
    await eventrpc.close();
  } finally {
    await ts.close();
  }
});

test('items a `$` or EventRPC connection owns are retired when it disconnects', async () => {
  const app = definePlugin({ name: 'owned', itemTypes: [{ name: 'Session', owner: { field: 'clientId', onDisconnect: 'delete' } }] });
  const ts = await startTestServer({ plugins: [app] });
  try {
    const models = await JsonClient.connect(ts.server.url('/models'));
    const eventrpc = await JsonClient.connect(ts.server.url('/eventrpc'));
    models.send({ $: 'evt', key: 'k', target: { key: 'set:Session' }, payload: { id: 's-models' } });
    eventrpc.send(rpc('command', { id: 'Session/s-rpc', type: 'SET', data: {} }, 'c'));
    const mine = (await models.next((m) => m.$ === 'evt-res')).payload;
    await eventrpc.next((m) => m.type === 'result');
    assert.equal(typeof mine.clientId, 'string', 'the owner field is filled with the connection id');
    assert.ok(ts.server.state.get('Session', 's-models') && ts.server.state.get('Session', 's-rpc'));
    await models.close();
    await eventrpc.close();
    for (let i = 0; i < 100 && ts.server.state.count('Session') > 0; i++) await sleep(20);
    assert.equal(ts.server.state.count('Session'), 0);
    assert.equal(ts.server.state.get('Client', mine.clientId), undefined);
  } finally {
    await ts.close();
  }
});

test('stopping the server closes `$` and EventRPC sockets with 1001 MYKO_SHUTTING_DOWN', async () => {
  const ts = await startTestServer();
  const models = await JsonClient.connect(ts.server.url('/models'));
  const eventrpc = await JsonClient.connect(ts.server.url('/eventrpc'));
  models.send({ $: 'sub', keys: ['Cue'] });
  await models.next((m) => m.$ === 'up');
  const t0 = Date.now();
  await ts.close();
  assert.ok(Date.now() - t0 < 3000, 'stop did not wait on them');
  assert.deepEqual(await models.closed, { code: 1001, reason: 'MYKO_SHUTTING_DOWN' });
  assert.deepEqual(await eventrpc.closed, { code: 1001, reason: 'MYKO_SHUTTING_DOWN' });
});
