/**
 * Conformance: the reference TypeScript MykoClient (WIRE.md 1, 6.2–6.5), the
 * client real dashboards use. Its recorded frames are replayed as sent, and
 * answers are read the way it reads them: a live result is folded like its
 * watchQuery (sequence 0 clears, then deletes, then upserts by id), a
 * windowed page is ordered by the `windowOrder` change, and a binary frame is
 * decoded with `new Decoder({})` from cbor-x, its own decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder } from 'cbor-x';
import type { AnyFrame, TestClient } from '@myko/server/testing';
import * as mc from './fixtures/myko-client.js';
import { Controller, openRaw, startRshipServer } from './support.js';

const cue = (n: string) => `cue-mxb5503a-${n}`;
const txOf = (frame: string): string => JSON.parse(frame).data.query?.tx ?? JSON.parse(frame).data.report?.tx ?? JSON.parse(frame).data.view?.tx;
const answersTo = (c: TestClient, tx: string, event = 'ws:m:query-response') => c.frames.filter((f) => f.event === event && f.data?.tx === tx);

/** The client's watchQuery fold: what its observable holds after these responses. */
function fold(responses: AnyFrame[]): string[] {
  const acc = new Map<string, unknown>();
  for (const r of responses) {
    if (BigInt(r.data.sequence) === 0n) acc.clear();
    for (const id of r.data.deletes) acc.delete(id);
    for (const w of r.data.upserts) if (w.item?.id) acc.set(w.item.id, w.item);
  }
  return [...acc.keys()];
}

/** The client's watchQueryWindowed fold: the visible page, in the order it shows it. */
function foldWindowed(responses: AnyFrame[]): string[] {
  const cache = new Map<string, unknown>();
  let visible: string[] = [];
  for (const r of responses) {
    if (BigInt(r.data.sequence) === 0n) cache.clear();
    for (const id of r.data.deletes) cache.delete(id);
    for (const w of r.data.upserts) if (w.item?.id) cache.set(w.item.id, w.item);
    const order = r.data.changes?.find((c: { kind: string }) => c.kind === 'windowOrder');
    visible = order ? order.ids.slice() : [...cache.keys()];
  }
  return visible.filter((id) => cache.has(id));
}

/** Cues b, c, d (and a) stored, as the client's own batches left them. */
async function seed(url: string, ...batches: string[]): Promise<void> {
  const c = await openRaw(url);
  for (const b of batches) c.send(b);
  await c.sync(); // a barrier only
  await c.close();
}

/**
 * A binary frame the server sent on this socket, decoded as the client decodes
 * it (by default the a540b04 client's `new Decoder({})`), that it would route. Waits on the socket itself, not TestClient.next:
 * that one's timeout message cannot print a frame holding a BigInt.
 */
function binaryAnswer(c: TestClient, pred: (m: any) => boolean, decoder = new Decoder({}), timeoutMs = 2000): Promise<any> {
  const decode = (b: Buffer): unknown => {
    try {
      return decoder.decode(b);
    } catch (e) {
      return new Error(String(e));
    }
  };
  const routable = (m: unknown) => m !== null && typeof m === 'object' && !(m instanceof Map) && !(m instanceof Error) && pred(m);
  const show = (m: unknown) => (m instanceof Map ? `a Map (keys ${[...m.keys()]}), which it cannot route` : JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
  const seen: unknown[] = c.raw.filter((r): r is Buffer => Buffer.isBuffer(r)).map(decode);
  const found = seen.find(routable);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const m = decode(data);
      seen.push(m);
      if (!routable(m)) return;
      done();
      resolve(m);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no binary answer the client can route; it decoded: ${seen.map(show).join(' | ') || 'nothing'}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      c.ws.off('message', onMessage);
    };
    c.ws.on('message', onMessage);
  });
}

test('first connect: the same query twice (no seq, then seq: 0, one tx) is one live result that follows the batch', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    for (const f of [mc.queryAllCues, mc.batchBCD, mc.queryAllCuesSeq0]) c.send(f);
    await c.sync();
    const tx = txOf(mc.queryAllCues);
    assert.equal(c.frames.filter((f) => f.event === 'ws:m:query-error').length, 0);
    assert.deepEqual(fold(answersTo(c, tx)).sort(), [cue('b'), cue('c'), cue('d')]);
  } finally {
    await ts.close();
  }
});

test('GetPeerServers (sent on every connect) is answered and never lists the server the client is on', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.send(mc.queryPeerServers);
    const [answer] = await Promise.all([c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === txOf(mc.queryPeerServers))]);
    const port = Number(new URL(ts.url).port);
    // The client dials ws://{address}:{port}/myko for every Server listed: listing itself opens a second socket to it.
    for (const u of answer!.data.upserts) assert.notEqual(Number(u.item.port), port, JSON.stringify(u.item));
  } finally {
    await ts.close();
  }
});

test('reconnect: GetAllCues re-sent on a new socket with seq: 0 and the same tx gives the same items', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD, mc.batchA);
    const c = await openRaw(ts.url);
    c.send(mc.resentAllCues);
    await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === txOf(mc.resentAllCues));
    assert.deepEqual(fold(answersTo(c, txOf(mc.resentAllCues))).sort(), [cue('a'), cue('b'), cue('c'), cue('d')]);
  } finally {
    await ts.close();
  }
});

test('reconnect: a windowed GetCuesByQuery {} re-sent with seq: 0 gives the same page', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD, mc.batchA);
    const c = await openRaw(ts.url);
    c.send(mc.resentWindowed);
    const r = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === txOf(mc.resentWindowed));
    assert.equal(r.data.totalCount, 4);
    assert.deepEqual(r.data.upserts.map((u: any) => u.item.id).sort(), [cue('a'), cue('b')]);
  } finally {
    await ts.close();
  }
});

test('windowed order: each windowed response carries windowOrder; a cue entering at the front shows first', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD);
    const c = await openRaw(ts.url);
    const tx = txOf(mc.queryWindowed);
    c.send(mc.queryWindowed);
    const first = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx);
    const order = first.data.changes?.find((ch: { kind: string }) => ch.kind === 'windowOrder');
    assert.deepEqual(order?.ids, [cue('b'), cue('c')]);
    assert.equal(order?.total_count, 3, 'total_count, snake case, inside the entry');
    c.send(mc.batchA);
    await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx && f.data.sequence > 0);
    assert.deepEqual(foldWindowed(answersTo(c, tx)), [cue('a'), cue('b')]);
  } finally {
    await ts.close();
  }
});

test('GetCuesCount report: a live count under the report tx', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD, mc.batchA);
    const c = await openRaw(ts.url);
    c.send(mc.reportGetCuesCount);
    const r = await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === txOf(mc.reportGetCuesCount));
    const v = r.data.response;
    assert.equal(typeof v === 'number' ? v : v?.count, 4);
  } finally {
    await ts.close();
  }
});

test('built-ins it calls: CountAllCues -> {count}, DeleteCue -> {deleted: true}', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD, mc.batchA);
    const c = await openRaw(ts.url);
    // Its watchReport has no error route: an unknown report leaves the dashboard waiting forever.
    c.send(mc.reportCountAllCues);
    const count = await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === txOf(mc.reportCountAllCues), 2000);
    assert.deepEqual(count.data.response, { count: 4 });
    const deleteTx = JSON.parse(mc.commandDeleteCueD).data.command.tx;
    c.send(mc.commandDeleteCueD);
    const del = await c.next((f) => (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error') && f.data.tx === deleteTx, 2000);
    assert.deepEqual(del.data.response, { deleted: true });
    const ctl = await Controller.open(ts.url);
    assert.equal(await ctl.item('Cue', cue('d')), undefined);
  } finally {
    await ts.close();
  }
});

test('ServerStats and GetConnectedServer name the server it is connected to', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.send(mc.reportServerStats);
    const stats = await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === txOf(mc.reportServerStats), 2000);
    assert.equal(typeof stats.data.response.clientCount, 'number');
    assert.equal(typeof stats.data.response.uptimeSeconds, 'number');
    assert.equal(Number(stats.data.response.server?.port), Number(new URL(ts.url).port), 'server: the Server item {id, version, address, port, startedAt}');
    c.send({ event: 'ws:m:query', data: { queryId: 'GetConnectedServer', queryItemType: 'Server', query: { tx: 'connected' } } });
    const connected = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'connected');
    assert.equal(connected.data.upserts.length, 1);
  } finally {
    await ts.close();
  }
});

test('JSON ping is echoed unchanged', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.send(mc.pingJson);
    const sent = JSON.parse(mc.pingJson).data;
    const echo = await c.next((f) => f.event === 'ws:m:ping' && f.data.id === sent.id);
    assert.deepEqual(echo.data, sent);
  } finally {
    await ts.close();
  }
});

test('CBOR ping (cbor-x records, BigInt timestamp): the echo reaches the client with the same id and timestamp', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.ws.send(Buffer.from(mc.cborPing, 'hex'));
    const sent = new Decoder({}).decode(Buffer.from(mc.cborPing, 'hex'));
    const echo = await binaryAnswer(c, (m) => m.event === 'ws:m:ping');
    assert.equal(echo.data.id, sent.data.id);
    assert.equal(BigInt(echo.data.timestamp), BigInt(sent.data.timestamp));
  } finally {
    await ts.close();
  }
});

test('CBOR query: the query-response reaches the client as an object it routes', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD);
    const c = await openRaw(ts.url);
    c.ws.send(Buffer.from(mc.cborQueryAllCues, 'hex'));
    const r = await binaryAnswer(c, (m) => m.event === 'ws:m:query-response');
    assert.deepEqual(r.data.upserts.map((u: any) => u.item.id).sort(), [cue('b'), cue('c'), cue('d')]);
  } finally {
    await ts.close();
  }
});

/** The newest client's decoder (@12eba50). */
const plainDecoder = () => new Decoder({ useRecords: false, mapsAsObjects: true, useTag259ForMaps: false } as ConstructorParameters<typeof Decoder>[0]);

test('CBOR, plain RFC 8949 (the newest client): the ping echo and the query-response reach it as objects, in plain maps', async () => {
  const ts = await startRshipServer();
  try {
    await seed(ts.url, mc.batchBCD);
    const c = await openRaw(ts.url);
    c.ws.send(Buffer.from(mc.cborPlainPing, 'hex'));
    const sent = plainDecoder().decode(Buffer.from(mc.cborPlainPing, 'hex'));
    const echo = await binaryAnswer(c, (m) => m.event === 'ws:m:ping', plainDecoder());
    assert.equal(echo.data.id, sent.data.id);
    assert.equal(BigInt(echo.data.timestamp), BigInt(sent.data.timestamp));
    c.ws.send(Buffer.from(mc.cborPlainQueryAllCues, 'hex'));
    const r = await binaryAnswer(c, (m) => m.event === 'ws:m:query-response', plainDecoder());
    assert.deepEqual(r.data.upserts.map((u: any) => u.item.id).sort(), [cue('b'), cue('c'), cue('d')]);
    // It chose plain CBOR so that any decoder reads the wire: no cbor-x records back (a map, major type 5, first).
    for (const b of c.raw.filter((x): x is Buffer => Buffer.isBuffer(x))) assert.equal(b[0]! >> 5, 5, `a plain map, not ${b.subarray(0, 3).toString('hex')}`);
  } finally {
    await ts.close();
  }
});

test('CBOR event-batch with an integer beyond 2^53 is stored', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.ws.send(Buffer.from(mc.cborBatchBig, 'hex'));
    await c.sync();
    const ctl = await Controller.open(ts.url);
    const f = await ctl.item('Cue', cue('f'));
    assert.ok(f, 'cue f stored');
    assert.equal(BigInt(f.big), 2n ** 60n);
  } finally {
    await ts.close();
  }
});

test('watchView of an unknown view gets ws:m:view-error with its tx (its observable errors instead of hanging)', async () => {
  const ts = await startRshipServer();
  try {
    const c = await openRaw(ts.url);
    c.send(mc.viewUnknown);
    const err = await c.next((f) => f.event === 'ws:m:view-error' && f.data.tx === txOf(mc.viewUnknown), 2000);
    assert.equal(err.data.viewId, 'CueSummary');
    assert.equal(typeof err.data.message, 'string');
  } finally {
    await ts.close();
  }
});
