/**
 * Large first responses are written into reused buffers (wire/large-frames.ts), given back only once
 * the socket has taken them. A client that stops reading makes the server queue several such frames
 * at once: each must reach it intact, none overwritten by a later frame that took its buffer too soon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, type AnyFrame } from '../testing/index.js';
import { largeFramesRetained } from '../wire/large-frames.js';
import type { Connection } from '../gateway/connection.js';

const ITEMS = 4000;
const item = (i: number) => ({ id: `k${String(i).padStart(5, '0')}`, text: `${i}:`.padEnd(1000, String.fromCharCode(97 + (i % 26))) });
const query = (tx: string) => ({ event: 'ws:m:query', data: { queryId: 'GetAllKeys', queryItemType: 'Key', query: { tx } } });
const isFirst = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data?.tx === tx && f.data.sequence === 0;

test('large first responses queued behind a client that stops reading arrive intact, and their buffers are reused after', async () => {
  const ts = await startTestServer({ config: { sendMaxBufferedBytes: 64 * 1024 * 1024 } });
  try {
    const w = await TestClient.connect(ts.url);
    for (let i0 = 0; i0 < ITEMS; i0 += 500)
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 500 }, (_, k) => ({ itemType: 'Key', changeType: 'SET', item: item(i0 + k) })) });
    await w.sync();

    const r = await TestClient.connect(ts.url);
    r.socket.pause();
    const txs = ['q1', 'q2', 'q3', 'q4'];
    for (const tx of txs) r.send(query(tx));
    // Four frames of ~4.2 MB: more than the loopback's kernel buffers hold, so some wait in the server's queue.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const conn = ts.server.connections.get(r.clientId!) as Connection;
    assert.ok(conn.ws.bufferedAmount > 4_000_000, `frames wait in the server's queue (${conn.ws.bufferedAmount} bytes)`);
    r.socket.resume();

    const raws: string[] = [];
    for (const tx of txs) {
      const f = await r.next(isFirst(tx), 10_000);
      assert.equal(f.data.upserts.length, ITEMS, tx);
      f.data.upserts.forEach((u: any, i: number) => assert.equal(u.item.text, item(i).text, `${tx}: item ${i}`));
      const raw = r.rawQueryResponse(tx, 0);
      assert.ok(typeof raw === 'string');
      raws.push(raw);
    }
    for (let i = 1; i < raws.length; i++) assert.equal(raws[i], raws[0]!.replace('"tx":"q1"', `"tx":"${txs[i]}"`));

    assert.ok(largeFramesRetained() > 0, 'the written frames gave their buffers back');
    const kept = largeFramesRetained();
    r.send(query('q5'));
    await r.next(isFirst('q5'), 10_000);
    const raw5 = r.rawQueryResponse('q5', 0);
    assert.equal(raw5, raws[0]!.replace('"tx":"q1"', '"tx":"q5"'), 'a frame written into a reused buffer');
    assert.equal(largeFramesRetained(), kept, 'taken from the pool and given back');
    await r.close();
    await w.close();
  } finally {
    await ts.close();
  }
});
