import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startTestServer, TestClient, sleep } from '../testing/index.js';

const payload = 'x'.repeat(2000);

test('a slow reader gets coalesced diffs, and the final state, once it reads again', async () => {
  const ts = await startTestServer({ config: { sendHighWaterBytes: 16 * 1024, sendMaxBufferedBytes: 64 * 1024 * 1024, slowConsumerTimeoutMs: 60_000 } });
  try {
    const w = await TestClient.connect(ts.url);
    const slow = await TestClient.connect(ts.url);
    slow.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'q' } } });
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 0);
    const sock = (slow.ws as unknown as { _socket: Socket })._socket;
    sock.pause();
    // 20 faders, each moved 100 times: 2,000 changes of ~2 KB.
    for (let round = 0; round < 100; round++)
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 20 }, (_, i) => ({ itemType: 'Fader', changeType: 'SET', item: { id: `f${i}`, round, payload } })) });
    await w.sync();
    await sleep(200);
    sock.resume();
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.upserts.some((u: any) => u.item.round === 99) && f.data.upserts.length > 0, 5000);
    await slow.sync();
    const diffs = slow.all('ws:m:query-response', 'q').slice(1);
    const delivered = diffs.reduce((n, f) => n + f.data.upserts.length, 0);
    assert.ok(delivered < 2000, `coalesced: ${delivered} item updates delivered for 2000 changes`);
    // Final state per fader is the last round.
    const last = new Map<string, number>();
    for (const f of diffs) for (const u of f.data.upserts) last.set(u.item.id, u.item.round);
    assert.equal(last.size, 20);
    for (const r of last.values()) assert.equal(r, 99);
    await w.close();
    await slow.close();
  } finally {
    await ts.close();
  }
});

test('a reader that stays behind past the limit is closed with MYKO_SLOW_CONSUMER; others carry on', async () => {
  const ts = await startTestServer({ config: { sendHighWaterBytes: 8 * 1024, sendMaxBufferedBytes: 256 * 1024, slowConsumerTimeoutMs: 800 } });
  try {
    const w = await TestClient.connect(ts.url);
    const ok = await TestClient.connect(ts.url);
    const slow = await TestClient.connect(ts.url);
    for (const c of [ok, slow]) {
      c.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'q' } } });
      await c.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 0);
    }
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const deadline = Date.now() + 10_000;
    let round = 0;
    while (ts.server.connections.has(slow.clientId!) && Date.now() < deadline) {
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 50 }, (_, i) => ({ itemType: 'Fader', changeType: 'SET', item: { id: `g${i}`, round, payload } })) });
      round++;
      await sleep(20);
    }
    assert.ok(!ts.server.connections.has(slow.clientId!), 'the slow connection was closed');
    // The server's memory for it is gone with it; the other reader is current.
    await ok.next((f) => f.event === 'ws:m:query-response' && f.data.upserts.some((u: any) => u.item.round === round - 1), 5000);
    await w.close();
    await ok.close();
  } finally {
    await ts.close();
  }
});
