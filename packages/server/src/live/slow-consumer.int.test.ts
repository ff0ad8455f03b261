/**
 * Slow consumers (README, "Coalescing and backpressure"). A reader whose
 * socket stops reading is simulated by pausing the client's TCP socket: the
 * server's writes then pile up in the kernel and in `ws.bufferedAmount`.
 * Three behaviours, each proved on its own:
 * - while a connection is congested nothing is sent to it and its queries
 *   coalesce: a burst of updates of one item costs one frame once it reads;
 * - the outbound-buffer limit (`sendMaxBufferedBytes`) closes it with 1013
 *   MYKO_SLOW_CONSUMER, long before the timeout could;
 * - the slow-consumer timeout (`slowConsumerTimeoutMs`) closes it with 1013
 *   MYKO_SLOW_CONSUMER while its buffer is far below the limit.
 * Which limit fired is read from the server's log line; the close code and
 * reason are those the client receives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startTestServer, TestClient, sleep, type TestServer } from '../testing/index.js';
import type { Connection } from '../gateway/connection.js';

const payload = 'x'.repeat(2000);

interface LogLine {
  level: number;
  msg: string;
  clientId?: string;
  buffered?: number;
}

/** A server whose warnings are kept, so a test can tell which limit closed a connection. */
async function serverWithLog(config: Record<string, number>): Promise<{ ts: TestServer; log: LogLine[] }> {
  const log: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void log.push(JSON.parse(line) as LogLine) });
  const ts = await startTestServer({ config, logger });
  return { ts, log };
}

const connOf = (ts: TestServer, c: TestClient) => ts.server.connections.get(c.clientId!) as Connection;

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

const fader = (id: string, round: number) => ({ itemType: 'Fader', changeType: 'SET', item: { id, round, payload } });

test('coalescing: a congested reader is sent nothing during a burst of 1,000 updates of one item, then one frame with the final value', async () => {
  const { ts } = await serverWithLog({ sendHighWaterBytes: 16 * 1024, sendMaxBufferedBytes: 64 * 1024 * 1024, slowConsumerTimeoutMs: 60_000 });
  try {
    const w = await TestClient.connect(ts.url);
    const slow = await TestClient.connect(ts.url);
    slow.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'q' } } });
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 0);
    const conn = connOf(ts, slow);
    slow.socket.pause();

    // Fill the kernel buffers and then the socket's own until the server holds this reader back.
    let fill = 0;
    while (conn.congestedSince === 0) {
      assert.ok(fill < 5000, 'the paused reader never became congested');
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 50 }, (_, i) => fader(`fill${i}`, fill)) });
      fill++;
      if (fill % 10 === 0) await w.sync();
    }
    await w.sync();
    await sleep(200); // let the last writes settle: the pipe is full and stays full
    assert.ok(conn.congested(), 'still congested before the burst');
    const framesBefore = conn.stats.framesOut;

    // The burst: 1,000 separate events, each its own frame, all about one item.
    for (let round = 0; round < 1000; round++) w.send({ event: 'ws:m:event', data: fader('hot', round) });
    await w.sync();
    assert.equal(ts.server.state.get('Fader', 'hot')?.round, 999, 'the burst is committed');
    assert.equal(conn.stats.framesOut, framesBefore, 'nothing was written to the congested reader during the burst');
    assert.ok(conn.congestedSince > 0);

    const seenBefore = slow.frames.length;
    slow.socket.resume();
    await slow.next((f) => f.event === 'ws:m:query-response' && f.data.upserts.some((u: any) => u.item.id === 'hot'), 10_000, seenBefore);
    await slow.sync();
    const hot = slow.all('ws:m:query-response', 'q').filter((f) => f.data.upserts.some((u: any) => u.item.id === 'hot'));
    assert.equal(hot.length, 1, `1,000 updates of one item reached the reader in ${hot.length} frames`);
    assert.deepEqual(
      hot[0]!.data.upserts.filter((u: any) => u.item.id === 'hot').map((u: any) => u.item.round),
      [999],
      'the final value, once',
    );
    // Sequence numbers stay consecutive across the hold-back: nothing was dropped, only merged.
    const seqs = slow.all('ws:m:query-response', 'q').map((f) => f.data.sequence);
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    // Every fill fader ends at its last round too.
    const last = new Map<string, number>();
    for (const f of slow.all('ws:m:query-response', 'q')) for (const u of f.data.upserts) last.set(u.item.id, u.item.round);
    for (let i = 0; i < 50; i++) assert.equal(last.get(`fill${i}`), fill - 1);
    await w.close();
    await slow.close();
  } finally {
    await ts.close();
  }
});

test('outbound-buffer limit: a reader that keeps asking but does not read is closed with 1013 MYKO_SLOW_CONSUMER once its buffer passes sendMaxBufferedBytes', async () => {
  // The timeout is a minute: only the buffer limit can close the connection within this test.
  const max = 256 * 1024;
  const { ts, log } = await serverWithLog({ sendHighWaterBytes: 8 * 1024, sendMaxBufferedBytes: max, slowConsumerTimeoutMs: 60_000 });
  try {
    const w = await TestClient.connect(ts.url);
    // 100 items of ~2 KB: every snapshot of them is ~200 KB.
    w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 100 }, (_, i) => fader(`b${i}`, 0)) });
    await w.sync();
    const slow = await TestClient.connect(ts.url);
    const conn = connOf(ts, slow);
    slow.socket.pause();
    // A snapshot is an answer to a request and is sent even to a congested connection: this is
    // the traffic the buffer limit exists for (diffs are held back instead, see the test above).
    const t0 = Date.now();
    let n = 0;
    while (!log.some((l) => l.clientId === slow.clientId)) {
      assert.ok(n < 500, 'the buffer limit never closed the reader');
      slow.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: `s${n++}` } } });
      await sleep(10);
    }
    const line = log.find((l) => l.clientId === slow.clientId)!;
    assert.equal(line.msg, 'closing slow consumer: send buffer limit');
    assert.ok(line.buffered! > max, `closed with ${line.buffered} bytes buffered, above the ${max} limit`);
    assert.ok(Date.now() - t0 < 30_000, 'well before the timeout could have fired');
    assert.ok(conn.closed || conn.ws.readyState >= 2, 'the server is closing the socket');

    // Read again: the client drains what was buffered, then receives the close frame.
    slow.socket.resume();
    const closed = await slow.closed;
    assert.deepEqual(closed, { code: 1013, reason: 'MYKO_SLOW_CONSUMER' });
    await until(() => !ts.server.connections.has(slow.clientId!), 'the server to forget the connection');
    assert.equal(ts.server.ctx.queries.countFor(conn), 0, 'its live queries are gone with it');
    await w.close();
  } finally {
    await ts.close();
  }
});

test('slow-consumer timeout: a reader held back longer than slowConsumerTimeoutMs is closed with 1013 MYKO_SLOW_CONSUMER, its buffer far below the limit; others carry on', async () => {
  const max = 64 * 1024 * 1024;
  const timeoutMs = 800;
  const { ts, log } = await serverWithLog({ sendHighWaterBytes: 8 * 1024, sendMaxBufferedBytes: max, slowConsumerTimeoutMs: timeoutMs });
  try {
    const w = await TestClient.connect(ts.url);
    const ok = await TestClient.connect(ts.url);
    const slow = await TestClient.connect(ts.url);
    for (const c of [ok, slow]) {
      c.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'q' } } });
      await c.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 0);
    }
    const conn = connOf(ts, slow);
    slow.socket.pause();
    // Write until the server holds the reader back, then stop: from here on nothing more is
    // written to it, so its buffer cannot grow towards the limit and only the timeout can act.
    let round = 0;
    while (conn.congestedSince === 0) {
      assert.ok(round < 5000, 'the paused reader never became congested');
      w.send({ event: 'ws:m:event-batch', data: Array.from({ length: 50 }, (_, i) => fader(`g${i}`, round)) });
      round++;
      await sleep(5);
    }
    const since = conn.congestedSince;
    await until(() => log.some((l) => l.clientId === slow.clientId), 'the timeout to close the reader', 5000);
    const closedAt = Date.now();
    const line = log.find((l) => l.clientId === slow.clientId)!;
    assert.equal(line.msg, 'closing slow consumer: held back too long');
    assert.ok(line.buffered! < max / 10, `closed with ${line.buffered} bytes buffered, far below the ${max} limit`);
    assert.ok(closedAt - since >= timeoutMs, `closed ${closedAt - since} ms after it became congested`);

    slow.socket.resume();
    assert.deepEqual(await slow.closed, { code: 1013, reason: 'MYKO_SLOW_CONSUMER' });
    await until(() => !ts.server.connections.has(slow.clientId!), 'the server to forget the connection');
    // The other reader is current.
    await ok.next((f) => f.event === 'ws:m:query-response' && f.data.upserts.some((u: any) => u.item.round === round - 1), 5000);
    await w.close();
    await ok.close();
  } finally {
    await ts.close();
  }
});
