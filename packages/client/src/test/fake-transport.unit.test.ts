/**
 * Paths a real server does not take on demand: a silent (half-open) socket,
 * a response out of sequence, an undecodable frame. A fake transport plays
 * the server; everything else is the real client.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getAll, type TransportHandlers } from '../node.js';
import { closeClients, testClient, waitFor } from './support.js';

after(() => closeClients());

interface FakeSocket {
  url: string;
  h: TransportHandlers;
  sent: { event: string; data: any }[];
  closed: boolean;
}

function fake() {
  const sockets: FakeSocket[] = [];
  const transport = (url: string, h: TransportHandlers) => {
    const s: FakeSocket = { url, h, sent: [], closed: false };
    sockets.push(s);
    return {
      send: (d: string | Uint8Array) => s.sent.push(JSON.parse(d as string)),
      close: () => {
        if (s.closed) return;
        s.closed = true;
        queueMicrotask(() => h.onClose(1000, 'closed by client'));
      },
    };
  };
  const serve = (s: FakeSocket, clientId: string) => {
    s.h.onOpen();
    s.h.onMessage(JSON.stringify({ event: 'ws:m:command', data: { commandId: 'SetClientId', command: { tx: 't', clientId } } }));
  };
  return { sockets, transport, serve };
}

test('a socket that stays silent for two ping intervals is dropped and replaced', async () => {
  const f = fake();
  const client = testClient({ url: 'ws://fake/myko', transport: f.transport, pingIntervalMs: 20, reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
  await waitFor(() => f.sockets.length === 1, 'the first socket');
  f.serve(f.sockets[0]!, 'one');
  assert.equal((await client.connected()).clientId, 'one');
  await waitFor(() => f.sockets[0]!.sent.some((x) => x.event === 'ws:m:ping'), 'a ping');
  await waitFor(() => f.sockets.length === 2, 'a new socket after the silence', 2000);
  assert.ok(f.sockets[0]!.closed);
  f.serve(f.sockets[1]!, 'two');
  await client.status.until((s) => s.type === 'connected' && s.clientId === 'two');
  client.close();
});

test('a response out of sequence makes the client cancel and re-ask with the same tx, then take the new snapshot', async () => {
  const f = fake();
  const client = testClient({ url: 'ws://fake/myko', transport: f.transport, pingIntervalMs: 0 });
  await waitFor(() => f.sockets.length === 1, 'the socket');
  const s = f.sockets[0]!;
  f.serve(s, 'c');
  const live = client.watchQuery(getAll('Cue'));
  const seen: string[][] = [];
  live.subscribe((r) => seen.push([...r.items.keys()]));
  const q = s.sent.find((x) => x.event === 'ws:m:query')!;
  const tx = q.data.query.tx;
  const resp = (sequence: number, ids: string[], deletes: string[] = []) =>
    s.h.onMessage(JSON.stringify({ event: 'ws:m:query-response', data: { tx, sequence, upserts: ids.map((id) => ({ itemType: 'Cue', item: { id } })), deletes, totalCount: 0 } }));
  resp(0, ['a']);
  resp(1, ['b']);
  resp(3, ['x']); // 2 went missing
  assert.deepEqual(s.sent.slice(-2).map((x) => [x.event, x.data.tx ?? x.data.query.tx]), [
    ['ws:m:query-cancel', tx],
    ['ws:m:query', tx],
  ]);
  resp(0, ['a', 'b', 'c']);
  assert.deepEqual(seen, [['a'], ['a', 'b'], ['a', 'b', 'c']], 'the gap was never shown; the new snapshot replaced the copy');
  client.close();
});

test('an undecodable frame is reported through onError and the connection carries on', async () => {
  const f = fake();
  const client = testClient({ url: 'ws://fake/myko', transport: f.transport, pingIntervalMs: 0 });
  const errors: Error[] = [];
  client.onError((e) => errors.push(e));
  await waitFor(() => f.sockets.length === 1, 'the socket');
  f.serve(f.sockets[0]!, 'c');
  f.sockets[0]!.h.onMessage('{not json');
  f.sockets[0]!.h.onMessage(JSON.stringify({ event: 'ws:m:error', data: { code: 'MYKO_BAD_EVENT', message: 'item.id is missing', kind: 'ws:m:event' } }));
  assert.equal(errors.length, 2);
  assert.equal(errors[0]!.name, 'SyntaxError');
  assert.equal(errors[1]!.name, 'ServerError');
  assert.equal((errors[1] as Error & { code: string }).code, 'MYKO_BAD_EVENT');
  assert.equal(client.status.current.type, 'connected');
  client.close();
});

test('first() rejects when the client closes before any value arrives', async () => {
  const f = fake();
  const client = testClient({ url: 'ws://fake/myko', transport: f.transport });
  await waitFor(() => f.sockets.length === 1, 'a socket');
  f.serve(f.sockets[0]!, 'c1');
  const pending = client.watchQuery(getAll('Lamp')).first();
  client.close();
  await assert.rejects(pending, (err: Error) => err.name === 'ClientClosedError');
});

test('a paged result follows the server\'s windowOrder ids, also for a cursor page that has no offset window', async () => {
  const f = fake();
  const client = testClient({ url: 'ws://fake/myko', transport: f.transport, pingIntervalMs: 0 });
  await waitFor(() => f.sockets.length === 1, 'the socket');
  const s = f.sockets[0]!;
  f.serve(s, 'c');
  const live = client.watchQuery(getAll('Row'));
  const seen: string[][] = [];
  live.subscribe((r) => seen.push(r.values.map((x) => x.id)));
  await waitFor(() => s.sent.some((x) => x.event === 'ws:m:query'), 'the query');
  const tx = s.sent.find((x) => x.event === 'ws:m:query')!.data.query.tx;
  const item = (id: string) => ({ itemType: 'Row', item: { id } });
  // A server whose page order is not the ids' (a compound sort key): the order entry wins over sorting and arrival.
  s.h.onMessage(JSON.stringify({ event: 'ws:m:query-response', data: { tx, sequence: 0, upserts: [item('a'), item('b')], deletes: [], totalCount: 9, window: { offset: 0, limit: 2 }, changes: [{ kind: 'windowOrder', ids: ['b', 'a'], total_count: 9, window: { offset: 0, limit: 2 } }] } }));
  // A cursor page: no top-level window, only the order entry. `z` arrives first but the page puts it last.
  s.h.onMessage(JSON.stringify({ event: 'ws:m:query-response', data: { tx, sequence: 1, upserts: [item('z'), item('c')], deletes: ['a', 'b'], totalCount: 9, changes: [{ kind: 'windowOrder', ids: ['c', 'z'], total_count: 9 }] } }));
  await waitFor(() => seen.length >= 2, 'both responses');
  assert.deepEqual(seen.at(-2), ['b', 'a']);
  assert.deepEqual(seen.at(-1), ['c', 'z']);
  client.close();
});
