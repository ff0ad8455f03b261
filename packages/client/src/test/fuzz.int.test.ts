import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocket } from 'ws';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { getAll, type QueryResult } from '../node.js';
import { closeClients, testClient, valueWhere } from './support.js';

/**
 * The client's decoder and router fuzzed with generated frames (fast-check):
 * what a buggy server, a proxy or a server of another version could send.
 * The peer here is a hostile one on purpose (a raw `ws` server that first
 * sends the client id, then garbage); it stands in for no behaviour of ours.
 *
 * Every frame must end as an error the app can observe (`onError`), or be
 * ignored; never as an exception thrown out of the socket's message handler
 * (in an app: an uncaught exception, the process gone). After the garbage, a
 * well-formed answer for the live query still reaches the app.
 */
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
after(() => {
  closeClients();
  for (const c of wss.clients) c.terminate();
  wss.close();
});

const kinds = ['ws:m:query-response', 'ws:m:query-error', 'ws:m:report-response', 'ws:m:report-error', 'ws:m:command-response', 'ws:m:command-error', 'ws:m:command', 'ws:m:error', 'ws:m:ping', 'ws:m:event', 'nope'];
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.constant(undefined), fc.constant(null), fc.constant('__proto__'));
const txLike = fc.oneof(fc.constant('q-live'), fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null));
/** Frames shaped like the real ones with each field wrong in turn, plus plain garbage. */
const frame = fc.oneof(
  { weight: 6, arbitrary: fc.record({ event: fc.constantFrom(...kinds), data: fc.oneof(anyValue, fc.record({ tx: txLike, sequence: fc.oneof(fc.integer(), anyValue), upserts: fc.oneof(fc.array(anyValue, { maxLength: 3 }), anyValue), deletes: fc.oneof(fc.array(anyValue, { maxLength: 3 }), anyValue), totalCount: anyValue, response: anyValue, commandId: fc.oneof(fc.string(), anyValue), command: anyValue, code: anyValue, message: anyValue, queryId: anyValue, reportId: anyValue }, { requiredKeys: [] })) }).map((f) => ({ text: JSON.stringify(f) })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => ({ text: s })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ binary: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.record({ event: fc.constantFrom(...kinds), data: anyValue }).map((f) => ({ binary: Buffer.from(cbor.encode(f)) })) },
);

test('fuzz the client decoder and router: 2,000 generated server frames never throw out of the socket handler; errors reach onError; the live query still works after', { timeout: 60_000 }, async () => {
  const seed = Number(process.env.MYKO_FUZZ_SEED ?? 20_261_202);
  const frames = fc.sample(frame, { seed, numRuns: 2000 });
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    if (!wss.address()) await new Promise((r) => wss.once('listening', r));
    const peer = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/myko`;
    const client = testClient({ url, reconnect: false });
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));
    const sock = await peer;
    const sent: any[] = [];
    sock.on('message', (raw) => sent.push(JSON.parse(raw.toString())));
    sock.send(JSON.stringify({ event: 'ws:m:command', data: { commandId: 'SetClientId', command: { tx: 't', clientId: 'fuzzed-client' } } }));
    await client.connected();
    const live = client.watchQuery(getAll('Cue'));
    const results: QueryResult[] = [];
    live.subscribe((r) => results.push(r), () => undefined);
    // The live query's tx, so some generated frames hit the real subscription.
    for (let i = 0; i < 100 && !sent.some((f) => f.event === 'ws:m:query'); i++) await new Promise((r) => setTimeout(r, 10));
    const tx = sent.find((f) => f.event === 'ws:m:query')!.data.query.tx as string;
    const pendingCommand = client.sendCommand('Anything', {}, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    for (const f of frames) {
      if ('text' in f) sock.send(f.text.replaceAll('"q-live"', JSON.stringify(tx)));
      else sock.send(f.binary);
    }
    // After all that, a new live query (the first may have been ended by a generated query-error for its tx,
    // as it should be) gets a well-formed answer, and the app sees it.
    const queriesBefore = sent.filter((f) => f.event === 'ws:m:query').length;
    const after = client.watchQuery(getAll('Lamp'));
    after.subscribe(() => undefined);
    for (let i = 0; i < 100 && sent.filter((f) => f.event === 'ws:m:query').length === queriesBefore; i++) await new Promise((r) => setTimeout(r, 10));
    const tx2 = sent.filter((f) => f.event === 'ws:m:query').at(-1)!.data.query.tx as string;
    sock.send(JSON.stringify({ event: 'ws:m:query-response', data: { tx: tx2, sequence: 0, upserts: [{ item: { id: 'after-fuzz' }, itemType: 'Lamp' }], deletes: [], totalCount: 1 } }));
    const r = await valueWhere(after, (x) => x.items.has('after-fuzz'), 'a live query after the fuzz', 10_000);
    assert.equal(r.items.get('after-fuzz')?.id, 'after-fuzz');
    assert.deepEqual(uncaught, [], 'no exception escaped the socket handler');
    assert.ok(errors.length > 0, 'malformed frames were reported through onError');
    assert.ok(errors.every((e) => e instanceof Error && typeof e.message === 'string'));
    client.close();
    await pendingCommand;
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
