/**
 * Bad input (docs/ERRORS.md): every bad frame gets an error reply with a
 * stable code, the connection stays usable (a valid request on the SAME socket
 * succeeds right after), and nothing of a rejected frame is stored: checked
 * through queries while running, and by counting rows in myko_events after
 * the server has stopped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { startTestServer, tempDir, TestClient, type AnyFrame, type TestServer } from '../testing/index.js';
import { definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'bad-input-test',
  itemTypes: [{ name: 'Thing', schema: { type: 'object', required: ['id', 'name'], properties: { name: { type: 'string' } } } }],
});

const maxFrameBytes = 64 * 1024;
const hardMaxFrameBytes = 256 * 1024;
const dataDir = tempDir('myko-bad-input-');
let ts: TestServer;
let stopped = false;
before(async () => {
  ts = await startTestServer({ dataDir, plugins: [app], config: { maxFrameBytes, hardMaxFrameBytes } });
});
after(async () => {
  if (!stopped) await ts.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Valid events this file sends (the only non-Client rows myko_events may hold at the end). */
const validIds: string[] = [];
let probeN = 0;

const isError = (f: AnyFrame) => f.event === 'ws:m:error';

/** Send a bad frame and return the error reply (the first ws:m:error after the send). */
async function rejectBy(c: TestClient, send: () => void, pred: (f: AnyFrame) => boolean = isError): Promise<AnyFrame> {
  const mark = c.frames.length;
  send();
  return c.next(pred, 3000, mark);
}

/**
 * A valid write and a read on the same socket: the connection still works, and
 * the read shows the write (so the bad frame before it did not wedge the
 * per-connection ordering).
 */
async function probe(c: TestClient): Promise<void> {
  const id = `ok-${++probeN}`;
  const tx = `probe-${probeN}`;
  const errorsBefore = c.all('ws:m:error').length;
  c.send({ event: 'ws:m:event', data: { itemType: 'Ok', changeType: 'SET', item: { id, n: probeN } } });
  validIds.push(id);
  c.send({ event: 'ws:m:query', data: { queryId: 'GetOksByIds', queryItemType: 'Ok', query: { tx, ids: [id] } } });
  const resp = await c.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === tx);
  assert.deepEqual(resp.data.upserts.map((u: any) => u.item.id), [id], 'a valid request right after the bad one succeeds');
  c.send({ event: 'ws:m:query-cancel', data: { tx } });
  assert.equal(c.all('ws:m:error').length, errorsBefore, 'the valid request got no error');
}

/** The items of a type the server holds now, by id. */
function ids(itemType: string): string[] {
  return [...ts.server.state.all(itemType)].map((i) => i.id).sort();
}

test('invalid JSON text → MYKO_BAD_JSON; the socket stays usable', async () => {
  const c = await TestClient.connect(ts.url);
  for (const text of ['{"event":"ws:m:event","data":{', 'not json at all', '{"event": "ws:m:event", "data": {"item": {"id": "x"},}}', '']) {
    const e = await rejectBy(c, () => c.send(text));
    assert.equal(e.data.code, 'MYKO_BAD_JSON', `for ${JSON.stringify(text)}`);
    assert.equal(typeof e.data.message, 'string');
    await probe(c);
  }
  assert.deepEqual(ids('x'), []);
  await c.close();
});

test('a text frame that is not UTF-8 → MYKO_BAD_JSON, not a closed connection', async () => {
  const c = await TestClient.connect(ts.url);
  // Valid JSON around an invalid byte sequence (a lone continuation byte and an overlong form).
  const bad = Buffer.concat([
    Buffer.from('{"event":"ws:m:event","data":{"itemType":"Utf","changeType":"SET","item":{"id":"'),
    Buffer.from([0x80, 0xc0, 0xaf]),
    Buffer.from('"}}}'),
  ]);
  const e = await rejectBy(c, () => c.ws.send(bad, { binary: false }));
  assert.equal(e.data.code, 'MYKO_BAD_JSON');
  assert.match(e.data.message, /UTF-8/i);
  await probe(c);
  assert.deepEqual(ids('Utf'), [], 'nothing of the frame was stored');
  await c.close();
});

test('binary garbage → MYKO_BAD_CBOR; the socket stays usable', async () => {
  const c = await TestClient.connect(ts.url);
  for (const bytes of [[0xff], [0x1c], [0x82, 0x01], [0xbf, 0x61, 0x61], [0x5f, 0x01]]) {
    const e = await rejectBy(c, () => c.ws.send(Buffer.from(bytes), { binary: true }));
    assert.equal(e.data.code, 'MYKO_BAD_CBOR', `for ${JSON.stringify(bytes)}`);
    await probe(c);
  }
  // A well-formed CBOR frame after the garbage is understood.
  c.sendCbor({ event: 'ws:m:event', data: { itemType: 'Ok', changeType: 'SET', item: { id: 'cbor-ok' } } });
  validIds.push('cbor-ok');
  c.sendCbor({ event: 'ws:m:query', data: { queryId: 'GetOksByIds', queryItemType: 'Ok', query: { tx: 'cb', ids: ['cbor-ok'] } } });
  const r = await c.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === 'cb');
  assert.equal(r.data.upserts[0].item.id, 'cbor-ok');
  await c.close();
});

test('a frame that is not an object {event, data} → MYKO_BAD_FRAME', async () => {
  const c = await TestClient.connect(ts.url);
  const frames = [
    '[{"event":"ws:m:event","data":{"itemType":"Arr","changeType":"SET","item":{"id":"a"}}}]',
    '42',
    '"ws:m:event"',
    'null',
    'true',
    '{"data":{"itemType":"Arr","changeType":"SET","item":{"id":"a"}}}',
    '{"event":42,"data":{"itemType":"Arr","changeType":"SET","item":{"id":"a"}}}',
  ];
  for (const text of frames) {
    const e = await rejectBy(c, () => c.send(text));
    assert.equal(e.data.code, 'MYKO_BAD_FRAME', `for ${text}`);
    assert.match(e.data.message, /event/);
    await probe(c);
  }
  assert.deepEqual(ids('Arr'), []);
  await c.close();
});

test('an unknown event kind → MYKO_UNKNOWN_KIND naming the kind', async () => {
  const c = await TestClient.connect(ts.url);
  const e = await rejectBy(c, () => c.send({ event: 'ws:m:evnet', data: { itemType: 'Typo', changeType: 'SET', item: { id: 't' } } }));
  assert.equal(e.data.code, 'MYKO_UNKNOWN_KIND');
  assert.equal(e.data.kind, 'ws:m:evnet');
  assert.match(e.data.message, /ws:m:evnet/);
  await probe(c);
  assert.deepEqual(ids('Typo'), []);
  await c.close();
});

test('malformed events → MYKO_BAD_EVENT naming the field; none stored', async () => {
  const c = await TestClient.connect(ts.url);
  const cases: { data: unknown; field: RegExp }[] = [
    { data: { itemType: 'Bad', changeType: 'UPSERT', item: { id: 'b1' } }, field: /changeType/ },
    { data: { itemType: 'Bad', changeType: 'set', item: { id: 'b1' } }, field: /changeType/ },
    { data: { itemType: 'Bad', item: { id: 'b1' } }, field: /changeType/ },
    { data: { itemType: 'Bad', changeType: 'SET' }, field: /item/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: null }, field: /item/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: ['b1'] }, field: /item/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: { name: 'no id' } }, field: /id/ },
    { data: { itemType: 'Bad', changeType: 'DEL', item: {} }, field: /id/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: { id: '' } }, field: /id/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: { id: 7 } }, field: /id/ },
    { data: { changeType: 'SET', item: { id: 'b1' } }, field: /itemType/ },
    { data: { itemType: '', changeType: 'SET', item: { id: 'b1' } }, field: /itemType/ },
    { data: { itemType: 3, changeType: 'SET', item: { id: 'b1' } }, field: /itemType/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: { id: 'b1' }, createdAt: 'yesterday' }, field: /createdAt/ },
    { data: { itemType: 'Bad', changeType: 'SET', item: { id: 'b1' }, createdAt: 12345 }, field: /createdAt/ },
    { data: 'Bad b1', field: /data/ },
    { data: null, field: /data/ },
  ];
  for (const { data, field } of cases) {
    const e = await rejectBy(c, () => c.send({ event: 'ws:m:event', data }));
    const what = JSON.stringify(data);
    assert.equal(e.data.code, 'MYKO_BAD_EVENT', `for ${what}`);
    assert.equal(e.data.kind, 'ws:m:event', `for ${what}`);
    assert.match(e.data.message, field, `the message names the field, for ${what}: ${e.data.message}`);
    assert.equal(e.data.index, undefined, 'no index for a single event');
    await probe(c);
  }
  // The event's tx, when readable, comes back with the error.
  const e = await rejectBy(c, () => c.send({ event: 'ws:m:event', data: { itemType: 'Bad', changeType: 'NOPE', item: { id: 'b1' }, tx: 'my-tx' } }));
  assert.equal(e.data.tx, 'my-tx');
  await probe(c);
  assert.deepEqual(ids('Bad'), []);
  await c.close();
});

test('a deeply nested item (60 KB of [[[...]]]) → MYKO_BAD_EVENT; the server does not crash', async () => {
  // Regression: with a hash given, such an item passed validation and overflowed the
  // stack inside the writer, which killed the process.
  const c = await TestClient.connect(ts.url);
  const other = await TestClient.connect(ts.url);
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const single = (item: string) => `{"event":"ws:m:event","data":{"itemType":"Deep","changeType":"SET","item":${item}}}`;
  for (const text of [single(`{"id":"d1","hash":"given","v":${deep(30_000)}}`), single(`{"id":"d2","v":${deep(30_000)}}`)]) {
    assert.ok(text.length < maxFrameBytes, 'under the frame limit: refused for its content, not its size');
    const e = await rejectBy(c, () => c.send(text));
    assert.equal(e.data.code, 'MYKO_BAD_EVENT', e.data.message);
    assert.match(e.data.message, /item/);
    await probe(c);
  }
  const batch = [0, 1, 2, 3, 4].map((i) => `{"itemType":"Deep","changeType":"SET","item":{"id":"b${i}","hash":"h"${i === 3 ? `,"v":${deep(20_000)}` : ''}}}`);
  const e = await rejectBy(c, () => c.send(`{"event":"ws:m:event-batch","data":[${batch.join(',')}]}`));
  assert.equal(e.data.code, 'MYKO_BAD_EVENT');
  assert.equal(e.data.index, 3);
  await probe(c);
  await probe(other);
  assert.deepEqual(ids('Deep'), []);
  // Real items nest far less than the limit, and are accepted.
  c.send(single(`{"id":"nested-ok","v":${deep(200)}}`));
  validIds.push('nested-ok');
  await c.sync();
  assert.deepEqual(ids('Deep'), ['nested-ok']);
  await c.close();
  await other.close();
});

test('an item type validator refusing a SET → MYKO_BAD_EVENT naming the field', async () => {
  const c = await TestClient.connect(ts.url);
  for (const item of [{ id: 'th1' }, { id: 'th1', name: 42 }]) {
    const e = await rejectBy(c, () => c.send({ event: 'ws:m:event', data: { itemType: 'Thing', changeType: 'SET', item } }));
    assert.equal(e.data.code, 'MYKO_BAD_EVENT');
    assert.match(e.data.message, /name/);
    await probe(c);
  }
  c.send({ event: 'ws:m:event', data: { itemType: 'Thing', changeType: 'SET', item: { id: 'th-good', name: 'fine' } } });
  validIds.push('th-good');
  await c.sync();
  assert.deepEqual(ids('Thing'), ['th-good']);
  await c.close();
});

test('an event batch with event 3 of 5 invalid → error with index 3, and none of the 5 stored', async () => {
  const c = await TestClient.connect(ts.url);
  const watcher = await TestClient.connect(ts.url);
  watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllBatchs', queryItemType: 'Batch', query: { tx: 'all' } } });
  await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'all');
  const five = (round: string) => [0, 1, 2, 3, 4].map((i) => ({ itemType: 'Batch', changeType: 'SET', item: { id: `${round}-${i}` } }));
  // Bad in three ways: the wire shape, the createdAt, the item type's validator.
  const bads: [string, (e: any) => unknown, RegExp][] = [
    ['shape', (e) => ({ ...e, item: { ...e.item, id: 12 } }), /id/],
    ['changeType', (e) => ({ ...e, changeType: 'PATCH' }), /changeType/],
    ['createdAt', (e) => ({ ...e, createdAt: 'not a date' }), /createdAt/],
    ['validator', (e) => ({ ...e, itemType: 'Thing', item: { id: 'thing-in-batch' } }), /name/],
  ];
  for (const [round, spoil, field] of bads) {
    const events: unknown[] = five(round);
    events[3] = spoil(events[3]);
    const e = await rejectBy(c, () => c.send({ event: 'ws:m:event-batch', data: events }));
    assert.equal(e.data.code, 'MYKO_BAD_EVENT', round);
    assert.equal(e.data.kind, 'ws:m:event-batch', round);
    assert.equal(e.data.index, 3, round);
    assert.match(e.data.message, field, `${round}: ${e.data.message}`);
    await probe(c);
  }
  // The {events: [...]} form is checked the same way.
  const wrapped: unknown[] = five('wrapped');
  wrapped[3] = { itemType: 'Batch', changeType: 'SET' };
  const e = await rejectBy(c, () => c.send({ event: 'ws:m:event-batch', data: { events: wrapped } }));
  assert.equal(e.data.index, 3);
  await probe(c);
  // Not an array at all.
  const notArray = await rejectBy(c, () => c.send({ event: 'ws:m:event-batch', data: { itemType: 'Batch', changeType: 'SET', item: { id: 'x' } } }));
  assert.equal(notArray.data.code, 'MYKO_BAD_EVENT');
  await probe(c);

  await watcher.sync();
  assert.equal(watcher.all('ws:m:query-response', 'all').length, 1, 'no event of a rejected batch was ever broadcast');
  assert.deepEqual(ids('Batch'), []);
  assert.equal(ts.server.state.get('Thing', 'thing-in-batch'), undefined);

  // A good batch of five is stored whole.
  c.send({ event: 'ws:m:event-batch', data: five('good') });
  validIds.push(...five('good').map((x) => x.item.id));
  const r = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'all' && f.data.sequence === 1);
  assert.equal(r.data.upserts.length, 5, 'all five in one response');
  await c.close();
  await watcher.close();
});

test('a frame over maxFrameBytes → MYKO_FRAME_TOO_LARGE and the connection stays open', async () => {
  const c = await TestClient.connect(ts.url);
  const big = JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Big', changeType: 'SET', item: { id: 'big', blob: 'x'.repeat(100 * 1024) } } });
  assert.ok(big.length > maxFrameBytes && big.length < hardMaxFrameBytes);
  const e = await rejectBy(c, () => c.send(big));
  assert.equal(e.data.code, 'MYKO_FRAME_TOO_LARGE');
  assert.match(e.data.message, new RegExp(String(maxFrameBytes)));
  assert.equal(c.ws.readyState, WebSocket.OPEN);
  await probe(c);
  // Just under the limit is accepted.
  const fits = { event: 'ws:m:event', data: { itemType: 'Big', changeType: 'SET', item: { id: 'fits', blob: 'y'.repeat(maxFrameBytes - 200) } } };
  assert.ok(JSON.stringify(fits).length <= maxFrameBytes);
  c.send(fits);
  validIds.push('fits');
  await c.sync();
  assert.equal(c.all('ws:m:error').length, 1);
  assert.deepEqual(ids('Big'), ['fits']);
  await c.close();
});

test('a frame over hardMaxFrameBytes closes that connection with 1009; the server carries on for others', async () => {
  const other = await TestClient.connect(ts.url);
  const c = await TestClient.connect(ts.url);
  c.ws.on('error', () => undefined); // the server's close may race our send
  c.send(JSON.stringify({ event: 'ws:m:event', data: { itemType: 'Huge', changeType: 'SET', item: { id: 'huge', blob: 'z'.repeat(hardMaxFrameBytes + 1024) } } }));
  const closed = await c.closed;
  assert.equal(closed.code, 1009);
  // The connection that was already open still works, and new ones are accepted.
  await probe(other);
  const fresh = await TestClient.connect(ts.url);
  await probe(fresh);
  assert.deepEqual(ids('Huge'), []);
  await other.close();
  await fresh.close();
});

test('bad queries: no tx → MYKO_BAD_QUERY; a tx but no queryId → ws:m:query-error {tx, queryId, message}', async () => {
  const c = await TestClient.connect(ts.url);
  for (const data of [
    { queryId: 'GetAllOks', queryItemType: 'Ok', query: {} },
    { queryId: 'GetAllOks', queryItemType: 'Ok' },
    { queryId: 'GetAllOks', queryItemType: 'Ok', query: { tx: '' } },
    'GetAllOks',
  ]) {
    const e = await rejectBy(c, () => c.send({ event: 'ws:m:query', data }));
    assert.equal(e.data.code, 'MYKO_BAD_QUERY', JSON.stringify(data));
    assert.equal(e.data.kind, 'ws:m:query');
    await probe(c);
  }

  const qe = await rejectBy(
    c,
    () => c.send({ event: 'ws:m:query', data: { queryItemType: 'Ok', query: { tx: 'no-id' } } }),
    (f) => f.event === 'ws:m:query-error',
  );
  assert.equal(qe.data.tx, 'no-id');
  assert.equal(typeof qe.data.queryId, 'string');
  assert.match(qe.data.message, /queryId/);
  await probe(c);

  const qt = await rejectBy(
    c,
    () => c.send({ event: 'ws:m:query', data: { queryId: 'GetAllOks', query: { tx: 'no-type' } } }),
    (f) => f.event === 'ws:m:query-error',
  );
  assert.deepEqual([qt.data.tx, qt.data.queryId], ['no-type', 'GetAllOks']);
  assert.match(qt.data.message, /queryItemType/);
  await probe(c);

  // GetXsByIds with ids that are not an array of strings.
  for (const idsParam of ['ok-1', 5, null, [1, 2]]) {
    const tx = `ids-${JSON.stringify(idsParam)}`;
    const e = await rejectBy(
      c,
      () => c.send({ event: 'ws:m:query', data: { queryId: 'GetOksByIds', queryItemType: 'Ok', query: { tx, ids: idsParam } } }),
      (f) => f.event === 'ws:m:query-error' || isError(f),
    );
    assert.equal(e.event, 'ws:m:query-error', JSON.stringify(idsParam));
    assert.deepEqual([e.data.tx, e.data.queryId], [tx, 'GetOksByIds']);
    assert.match(e.data.message, /ids/);
    await probe(c);
  }
  // A failed query is not live: the same tx can be used again, and works.
  c.send({ event: 'ws:m:query', data: { queryId: 'GetOksByIds', queryItemType: 'Ok', query: { tx: 'ids-5', ids: ['ok-1'] } } });
  const again = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'ids-5');
  assert.equal(again.data.upserts[0].item.id, 'ok-1');
  await c.close();
});

test('bad command shapes → MYKO_BAD_COMMAND (as ws:m:error without a tx, as command-error with one)', async () => {
  const c = await TestClient.connect(ts.url);
  for (const data of [{ commandId: 'Anything' }, { commandId: 'Anything', command: { name: 'no tx' } }, { command: {} }, 'Anything', null]) {
    const e = await rejectBy(c, () => c.send({ event: 'ws:m:command', data }));
    assert.equal(e.data.code, 'MYKO_BAD_COMMAND', JSON.stringify(data));
    assert.equal(e.data.kind, 'ws:m:command');
    await probe(c);
  }
  const ce = await rejectBy(
    c,
    () => c.send({ event: 'ws:m:command', data: { command: { tx: 'cmd-no-id' } } }),
    (f) => f.event === 'ws:m:command-error',
  );
  assert.equal(ce.data.tx, 'cmd-no-id');
  assert.equal(ce.data.code, 'MYKO_BAD_COMMAND');
  assert.match(ce.data.message, /commandId/);
  await probe(c);
  // Malformed answers to server commands (current-dialect shape without tx) are refused too.
  const ans = await rejectBy(c, () => c.send({ event: 'ws:m:command-error', data: { message: 'no tx' } }));
  assert.equal(ans.data.code, 'MYKO_BAD_FRAME');
  await probe(c);
  await c.close();
});

test('after stopping, myko_events holds exactly the valid events (nothing partial from any bad frame)', async () => {
  // Client and Server items are the server's own records of who is connected and running.
  const types = [...ts.server.state.itemTypes()].filter((t) => t !== 'Client' && t !== 'Server' && ts.server.state.count(t) > 0).sort();
  const stateIds = types.flatMap((t) => ids(t)).sort();
  await ts.server.stop();
  stopped = true;
  const db = new Database(join(dataDir, 'myko.db'), { readonly: true });
  try {
    const rows = db.prepare(`SELECT item_type, item_id FROM myko_events WHERE item_type NOT IN ('Client', 'Server') ORDER BY id`).all() as { item_type: string; item_id: string }[];
    assert.deepEqual(rows.map((r) => r.item_id).sort(), [...validIds].sort(), 'one row per valid event, none from a rejected frame');
    assert.deepEqual(stateIds, [...validIds].sort(), 'state holds exactly the valid items');
    assert.deepEqual(types, ['Batch', 'Big', 'Deep', 'Ok', 'Thing']);
    assert.deepEqual([...new Set(rows.map((r) => r.item_type))].sort(), types);
  } finally {
    db.close();
  }
});
