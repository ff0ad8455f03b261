import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Decoder, Encoder } from 'cbor-x';
import { startTestServer, type TestServer } from '../testing/index.js';

/**
 * The reference TypeScript MykoClient in CBOR mode encodes with
 * `new Encoder({})` (cbor-x records) and decodes with `new Decoder({})`, which
 * turns a plain CBOR map into a JS Map: its router reads `message.event` and
 * drops the frame. These tests use exactly those two codecs, as that client
 * does, and check that every answer decodes to an object it can route.
 */

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

interface RefFrame {
  event?: string;
  data?: any;
}

/** A socket speaking CBOR as the reference client does: one records encoder and one decoder for the connection. */
async function referenceCborSocket(url: string) {
  const ws = new WebSocket(url);
  const encoder = new Encoder({});
  const decoder = new Decoder({});
  const frames: unknown[] = [];
  const waiters: { pred: (f: RefFrame) => boolean; resolve: (f: RefFrame) => void }[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return; // the SetClientId commands are sent before the client's first binary frame, as JSON
    const value = decoder.decode(data);
    frames.push(value);
    for (const w of [...waiters]) if (!(value instanceof Map) && w.pred(value as RefFrame)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(value as RefFrame);
    }
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    ws,
    frames,
    send: (frame: object) => ws.send(encoder.encode(frame)),
    next: (pred: (f: RefFrame) => boolean, ms = 5000) =>
      new Promise<RefFrame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${frames.length} binary frames, Maps: ${frames.filter((f) => f instanceof Map).length}`)), ms);
        waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      }),
  };
}

test('a client writing cbor-x records gets answers its records decoder reads as objects: query, ping, command error', async () => {
  const c = await referenceCborSocket(ts.url);
  c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'one' }, sourceId: null } });
  c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'rq', seq: 0 } } });
  const r = await c.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === 'rq');
  assert.equal(r.data.sequence, 0);
  assert.deepEqual(r.data.upserts.map((u: any) => [u.itemType, u.item.id, u.item.label]), [['Cue', 'q1', 'one']]);

  // A live update reaches it too.
  c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id: 'q2', label: 'two' } } });
  const u = await c.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === 'rq' && f.data.sequence === 1);
  assert.deepEqual(u.data.upserts.map((x: any) => x.item.id), ['q2']);

  // The ping with a 64-bit timestamp is echoed with the very value.
  const stamp = BigInt(Date.now()) + 2n ** 60n;
  c.send({ event: 'ws:m:ping', data: { id: 'p1', timestamp: stamp } });
  const echo = await c.next((f) => f.event === 'ws:m:ping');
  assert.equal(BigInt(echo.data.timestamp), stamp);

  c.send({ event: 'ws:m:command', data: { commandId: 'NoSuchCommand', command: { tx: 'rc' } } });
  const err = await c.next((f) => f.event === 'ws:m:command-error' && f.data?.tx === 'rc');
  assert.equal(err.data.code, 'MYKO_UNKNOWN_COMMAND');

  assert.equal(c.frames.filter((f) => f instanceof Map).length, 0, 'no answer decoded as a Map');
  c.ws.close();
});

test('a client writing plain CBOR maps (no records) still gets plain maps, as WIRE.md 1.6 says', async () => {
  const ws = new WebSocket(ts.url);
  const plain = new Encoder({ useRecords: false, mapsAsObjects: true });
  const got = new Promise<Buffer>((resolve) => ws.on('message', (data: Buffer, isBinary: boolean) => isBinary && resolve(data)));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(plain.encode({ event: 'ws:m:ping', data: { id: 'p', timestamp: 1 } }));
  const bytes = await got;
  assert.notEqual(bytes.subarray(0, 3).toString('hex'), 'd9dfff', 'no record definition');
  assert.equal((new Decoder({ useRecords: false, mapsAsObjects: true }).decode(bytes) as RefFrame).event, 'ws:m:ping');
  ws.close();
});
