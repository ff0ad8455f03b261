import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlugin } from '../core/registry.js';
import { startTestServer, TestClient, sleep, type TestServer } from '../testing/index.js';

/**
 * GET /api/changed-at/ITEMTYPE: when the server last changed each item of a
 * memory-only type (no log, so no history says it), on the server's clock.
 * The dashboard uses it for the age of a pulse sent without a timestamp.
 */

const plugin = definePlugin({ name: 'blips', itemTypes: [{ name: 'Blip', persist: false }] });
const base = (ts: TestServer) => ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
const blip = (id: string, v: number, changeType = 'SET') => ({ event: 'ws:m:event', data: { itemType: 'Blip', changeType, item: { id, v } } });
const get = async (ts: TestServer, path: string) => {
  const res = await fetch(`${base(ts)}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

test('the server time of the last change of each memory-only item; a DEL drops it; persisted types are not tracked', async () => {
  const ts = await startTestServer({ plugins: [plugin] });
  const c = await TestClient.connect(ts.url);
  try {
    const t0 = Date.now();
    c.send(blip('a', 1));
    c.send(blip('b', 1));
    c.send({ event: 'ws:m:event', data: { itemType: 'Lamp', changeType: 'SET', item: { id: 'l1', level: 3 } } });
    await c.sync();
    const t1 = Date.now();
    let r = await get(ts, '/api/changed-at/Blip');
    assert.equal(r.status, 200);
    assert.equal(r.body.tracked, true);
    assert.deepEqual(Object.keys(r.body.changedAt).sort(), ['a', 'b']);
    for (const iso of Object.values<string>(r.body.changedAt)) assert.ok(Date.parse(iso) >= t0 - 5 && Date.parse(iso) <= t1 + 5, iso);
    assert.ok(Math.abs(Date.parse(r.body.now) - Date.now()) < 1000);
    const firstA = r.body.changedAt.a;

    // A later change of a moves its time on; an equal SET changes nothing, so b keeps its time.
    await sleep(30);
    c.send(blip('a', 2));
    c.send(blip('b', 1));
    await c.sync();
    r = await get(ts, '/api/changed-at/Blip?ids=a,b,zz');
    assert.ok(Date.parse(r.body.changedAt.a) > Date.parse(firstA));
    assert.ok(Date.parse(r.body.changedAt.b) <= t1 + 5, 'an equal SET is no change');
    assert.equal(r.body.changedAt.zz, undefined);

    c.send(blip('a', 2, 'DEL'));
    await c.sync();
    r = await get(ts, '/api/changed-at/Blip');
    assert.deepEqual(Object.keys(r.body.changedAt), ['b']);

    // A persisted type has a history instead.
    r = await get(ts, '/api/changed-at/Lamp');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { itemType: 'Lamp', tracked: false, now: r.body.now, changedAt: {} });
    assert.equal((await get(ts, '/api/changed-at/%E0%A4%A')).status, 400);
  } finally {
    await c.close();
    await ts.close();
  }
});
