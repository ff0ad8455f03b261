/**
 * EventRPC aggregate versions are event counts of the log (versions.ts): the
 * same after a restart, and the same on every cluster member.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, tempDir, testPostgres, sleep } from '../testing/index.js';
import { JsonClient, type AnyMessage, eventRpcEnvelope } from '../testing/json-client.js';

const envelope = eventRpcEnvelope;
const result = (cid: string) => (m: AnyMessage) => m.type === 'result' && m['correlation-id'] === cid;
const update = (cid: string, pred: (p: AnyMessage) => boolean = () => true) => (m: AnyMessage) =>
  m.type === 'update' && m['correlation-id'] === cid && pred(m.payload);

async function command(c: JsonClient, id: string, type: 'SET' | 'DEL', data: object = {}): Promise<void> {
  const msg = envelope('command', { id, type, data });
  const cid = msg['correlation-id'] as string;
  c.send(msg);
  assert.equal((await c.next(result(cid))).payload.status, 'ok');
}

test('the version is the stored event count, equal SETs included, and a restarted server with a fresh connection agrees', async () => {
  const dataDir = tempDir();
  let ts = await startTestServer({ dataDir });
  try {
    let c = await JsonClient.connect(ts.server.url('/eventrpc'));
    // Subscribe and write at once: the subscribe is answered (ack, snapshot) before the command that follows it.
    c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/r1' }, 'agg'));
    c.send(envelope('command', { id: 'Order/r1', type: 'SET', data: { total: 1 } }, 'first'));
    await c.next(result('first'));
    const order = c.messages.map((m) => `${m.type}:${m['correlation-id']}:${m.payload.version ?? m.payload.status}`);
    // The write's update may precede its result (broadcast, then the reply); the snapshot precedes both.
    assert.deepEqual(order.slice(0, 2), ['result:agg:ok', 'update:agg:0']);
    assert.deepEqual(order.slice(2).sort(), ['result:first:ok', 'update:agg:1']);
    await command(c, 'Order/r1', 'SET', { total: 1 }); // equal: stored, so counted, but no state update
    await command(c, 'Order/r1', 'SET', { total: 2 });
    assert.equal((await c.next(update('agg', (p) => p.data?.total === 2))).payload.version, 3);
    await command(c, 'Order/r1', 'DEL');
    assert.equal((await c.next(update('agg', (p) => p.data === null && p.version > 0))).payload.version, 4);
    await command(c, 'Order/r1', 'SET', { total: 5 });
    assert.equal((await c.next(update('agg', (p) => p.data?.total === 5))).payload.version, 5);
    assert.equal(await ts.server.store.countHistory('Order', 'r1'), 5);
    await c.close();
    await ts.server.stop();

    ts = await startTestServer({ dataDir });
    c = await JsonClient.connect(ts.server.url('/eventrpc'));
    c.send(envelope('subscribe', { to: 'aggregate', id: 'Order/r1' }, 'again'));
    c.send(envelope('subscribe', { to: 'event', id: 'Order/r1' }, 'events'));
    assert.equal((await c.next(update('again'))).payload.version, 5, 'counted from the log, not from this process');
    await c.next(result('events'));
    await command(c, 'Order/r1', 'SET', { total: 5 }); // equal: an event update, no state update
    await command(c, 'Order/r1', 'SET', { total: 6 });
    const events = [(await c.next(update('events', (p) => p.version === 6))).payload, (await c.next(update('events', (p) => p.version === 7))).payload];
    assert.deepEqual(events.map((p) => [p.name, p.data.item.total]), [['SET', 5], ['SET', 6]]);
    assert.equal((await c.next(update('again', (p) => p.data?.total === 6))).payload.version, 7);
    assert.equal(c.all(update('again')).length, 2, 'the equal SET sent no state update');
    await c.close();
  } finally {
    await ts.server.stop(); // stopping twice is harmless
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('two cluster members give the same version for the same aggregate', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const config = { postgresUrl: db.url, postgresSchema: db.schema };
  const a = await startTestServer({ config });
  const b = await startTestServer({ config });
  try {
    const ca = await JsonClient.connect(a.server.url('/eventrpc'));
    const cb = await JsonClient.connect(b.server.url('/eventrpc'));
    // Three events through member a before b watches, one of them an equal SET.
    await command(ca, 'Order/k1', 'SET', { total: 1 });
    await command(ca, 'Order/k1', 'SET', { total: 1 });
    await command(ca, 'Order/k1', 'SET', { total: 3 });
    ca.send(envelope('subscribe', { to: 'aggregate', id: 'Order/k1' }, 'on-a'));
    assert.equal((await ca.next(update('on-a'))).payload.version, 3);
    // b counts from the shared log; whatever it has applied so far, its versions match its data.
    cb.send(envelope('subscribe', { to: 'aggregate', id: 'Order/k1' }, 'on-b'));
    cb.send(envelope('subscribe', { to: 'event', id: 'Order/k1' }, 'ev-b'));
    await cb.next(result('ev-b'));
    const settled = await cb.next(update('on-b', (p) => p.data?.total === 3), 5000);
    assert.equal(settled.payload.version, 3);
    // A write through b is counted the same on both.
    await command(cb, 'Order/k1', 'SET', { total: 4 });
    assert.equal((await ca.next(update('on-a', (p) => p.data?.total === 4), 5000)).payload.version, 4);
    assert.equal((await cb.next(update('on-b', (p) => p.data?.total === 4), 5000)).payload.version, 4);
    assert.equal((await cb.next(update('ev-b', (p) => p.data.item.total === 4), 5000)).payload.version, 4);
    await sleep(20);
    await Promise.all([ca.close(), cb.close()]);
  } finally {
    await a.server.stop();
    await b.server.stop();
    rmSync(a.dataDir, { recursive: true, force: true });
    rmSync(b.dataDir, { recursive: true, force: true });
    await db.drop();
  }
});
