/**
 * The seed dialect (seeds 000 and 001; WIRE.md 1.1): clients that learn their
 * clientId from the server and echo it in `data`, and get the seed shapes back:
 * query responses `{event, tx, data: MWrappedItem[]}` (the whole result, each
 * time), command responses `{event, tx, data}`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, TestClient, type AnyFrame, type TestServer } from '../testing/index.js';
import { defineCommand, definePlugin } from '../core/registry.js';

const app = definePlugin({
  name: 'seed-dialect-test',
  commands: [
    defineCommand<{ id?: unknown; name?: unknown }, { created: string; targets: number }>({
      id: 'CreateTarget',
      async handler(params, ctx) {
        const id = String(params.id);
        await ctx.emit({ itemType: 'Target', changeType: 'SET', item: { id, name: String(params.name), serviceId: 'bluth-company' } });
        return { created: id, targets: ctx.state.count('Target') };
      },
    }),
    defineCommand({
      id: 'BurnItDown',
      handler: () => {
        throw new Error('there is always money in the banana stand');
      },
    }),
  ],
});

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
});
after(async () => {
  await ts.close();
});

/**
 * Seed 001, "Example", as printed there (a TypeScript literal that the seed
 * says to stringify), plus the `clientId` a seed client echoes in `data`.
 */
function bananaStandEvent(clientId: string) {
  return {
    event: "ws:m:event",
    data: {
      clientId,
      itemType: "Target", 
      changeType: "SET", 
      createdAt: "2023-04-30T19:56:34Z",
      item: {	
        id: "banana-stand", 
        hash: "long-hash-string-of-some-kind",
        name: "The Banana Stand",
        actionIds: [
          "banana-stand:burn", 
          "banana-stand:fill-with-money"
        ],
        emitterIds: [
          "banana-stand:banana-sold",
          "banana-sold:banana-tossed",
          "banana-stand:dollar-taken"
        ],
        subTargets: [
          "cash-register"
        ],
        serviceId: 'bluth-company',
        bgColor: `#ffff00`,
        fgColor: `#000000`,
        lastUpdated: "2023-04-30T19:56:34Z",
      }
    }
  };
}

const seedQuery = (clientId: string, tx: string, queryId: string, queryItemType: string, params: Record<string, unknown> = {}) => ({
  event: 'ws:m:query',
  data: { clientId, queryId, queryItemType, query: { tx, ...params } },
});
const seedCommand = (clientId: string, tx: string, commandId: string, params: Record<string, unknown> = {}) => ({
  event: 'ws:m:command',
  data: { clientId, commandId, command: { tx, createdAt: new Date().toISOString(), ...params } },
});
const seedResult = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.tx === tx;
/** The raw text of the frame at `index` (to check the shape on the wire, not a decoded copy). */
const rawAt = (c: TestClient, f: AnyFrame) => JSON.parse(c.raw[c.frames.indexOf(f)] as string);

test('on connect the server sends the clientId as SetClientId and as client:setId', async () => {
  const c = await TestClient.connect(ts.url);
  await c.next((f) => f.event === 'ws:m:command' && f.data?.commandId === 'client:setId');
  const [a, b] = c.frames.filter((f) => f.event === 'ws:m:command').slice(0, 2);
  assert.equal(a!.data.commandId, 'SetClientId');
  assert.equal(b!.data.commandId, 'client:setId');
  for (const f of [a!, b!]) {
    assert.equal(typeof f.data.command.tx, 'string');
    assert.ok(f.data.command.tx.length > 0);
    assert.equal(f.data.command.clientId, c.clientId);
  }
  assert.match(c.clientId!, /^[0-9a-f-]{36}$/);
  // Another connection gets another id.
  const d = await TestClient.connect(ts.url);
  assert.notEqual(d.clientId, c.clientId);
  await c.close();
  await d.close();
});

test('Banana Stand (seed 001) sent verbatim is stored as given and served to another seed client in the seed shape', async () => {
  const a = await TestClient.connect(ts.url);
  const b = await TestClient.connect(ts.url);
  const sent = bananaStandEvent(a.clientId!);
  a.send(JSON.stringify(sent));
  await a.sync(); // the ping is answered after the event is committed (read-your-writes)
  assert.equal(a.all('ws:m:error').length, 0, `no error: ${JSON.stringify(a.all('ws:m:error'))}`);

  b.send(seedQuery(b.clientId!, 'targets-1', 'GetAllTargets', 'Target'));
  const resp = await b.next(seedResult('targets-1'));
  // The frame exactly as on the wire: tx at top level, data the array of wrapped items.
  assert.deepEqual(rawAt(b, resp), {
    event: 'ws:m:query-response',
    tx: 'targets-1',
    data: [{ itemType: 'Target', item: sent.data.item }],
  });
  assert.equal(resp.data[0].item.hash, 'long-hash-string-of-some-kind', 'a given hash is kept');

  // The stored event kept the given createdAt.
  const [stored] = await ts.server.store.readHistory('Target', 'banana-stand');
  assert.equal(stored!.createdAt, '2023-04-30T19:56:34Z');
  assert.deepEqual(stored!.item, sent.data.item);

  // Sending the same event again changes nothing and is not broadcast to the live query.
  a.send(JSON.stringify(sent));
  await a.sync();
  await b.sync();
  assert.equal(b.all('ws:m:query-response', 'targets-1').length, 1, 'an identical SET is not re-sent');
  await a.close();
  await b.close();
});

test('a live seed query gets the whole result again after each SET and DEL from another client', async () => {
  const writer = await TestClient.connect(ts.url);
  const watcher = await TestClient.connect(ts.url);
  const svc = 'sitwell';
  const ev = (changeType: 'SET' | 'DEL', item: Record<string, unknown>) => ({
    event: 'ws:m:event',
    data: { clientId: writer.clientId, itemType: 'Target', changeType, createdAt: new Date().toISOString(), item },
  });
  writer.send(ev('SET', { id: 's1', hash: 'h1', name: 'One', serviceId: svc }));
  await writer.sync();

  watcher.send(seedQuery(watcher.clientId!, 'live', 'GetTargetsByQuery', 'Target', { serviceId: svc }));
  const r0 = await watcher.next(seedResult('live'));
  assert.deepEqual(r0.data, [{ itemType: 'Target', item: { id: 's1', hash: 'h1', name: 'One', serviceId: svc } }]);

  let mark = watcher.frames.length;
  writer.send(ev('SET', { id: 's2', hash: 'h2', name: 'Two', serviceId: svc }));
  const r1 = await watcher.next(seedResult('live'), 3000, mark);
  assert.equal(r1.tx, 'live');
  assert.deepEqual(
    r1.data.map((w: any) => w.item).sort((x: any, y: any) => x.id.localeCompare(y.id)),
    [
      { id: 's1', hash: 'h1', name: 'One', serviceId: svc },
      { id: 's2', hash: 'h2', name: 'Two', serviceId: svc },
    ],
    'the whole result, not a diff',
  );
  assert.ok(r1.data.every((w: any) => w.itemType === 'Target'));

  mark = watcher.frames.length;
  writer.send(ev('SET', { id: 's1', hash: 'h1b', name: 'One, renamed', serviceId: svc }));
  const r2 = await watcher.next(seedResult('live'), 3000, mark);
  assert.deepEqual(
    r2.data.map((w: any) => w.item).sort((x: any, y: any) => x.id.localeCompare(y.id)),
    [
      { id: 's1', hash: 'h1b', name: 'One, renamed', serviceId: svc },
      { id: 's2', hash: 'h2', name: 'Two', serviceId: svc },
    ],
  );

  mark = watcher.frames.length;
  writer.send(ev('DEL', { id: 's1' }));
  const r3 = await watcher.next(seedResult('live'), 3000, mark);
  assert.deepEqual(r3.data, [{ itemType: 'Target', item: { id: 's2', hash: 'h2', name: 'Two', serviceId: svc } }]);

  mark = watcher.frames.length;
  writer.send(ev('DEL', { id: 's2' }));
  const r4 = await watcher.next(seedResult('live'), 3000, mark);
  assert.deepEqual(r4.data, [], 'an empty result is sent as an empty array');

  // Changes the query cannot see (another service; a DEL of an absent item) send nothing.
  writer.send(ev('SET', { id: 'elsewhere', name: 'Elsewhere', serviceId: 'other' }));
  writer.send(ev('DEL', { id: 'never-existed' }));
  await writer.sync();
  await watcher.sync();
  assert.equal(watcher.all('ws:m:query-response', 'live').length, 5);
  await writer.close();
  await watcher.close();
});

test('hash is computed (SHA-256, 64 hex) when missing, and createdAt stamped when missing', async () => {
  const a = await TestClient.connect(ts.url);
  const before = Date.now();
  a.send({ event: 'ws:m:event', data: { clientId: a.clientId, itemType: 'Target', changeType: 'SET', item: { id: 'no-hash', name: 'N', serviceId: 'x' } } });
  a.send({ event: 'ws:m:event', data: { clientId: a.clientId, itemType: 'Target', changeType: 'SET', item: { id: 'no-hash-2', name: 'M', serviceId: 'x' } } });
  a.send(seedQuery(a.clientId!, 'h', 'GetTargetsByIds', 'Target', { ids: ['no-hash', 'no-hash-2'] }));
  const resp = await a.next(seedResult('h'));
  const after = Date.now();
  const byId = new Map<string, any>(resp.data.map((w: any) => [w.item.id, w.item]));
  const h1 = byId.get('no-hash').hash;
  const h2 = byId.get('no-hash-2').hash;
  assert.match(h1, /^[0-9a-f]{64}$/);
  assert.match(h2, /^[0-9a-f]{64}$/);
  assert.notEqual(h1, h2, 'different items, different hashes');
  assert.deepEqual(byId.get('no-hash'), { id: 'no-hash', name: 'N', serviceId: 'x', hash: h1 });
  // WIRE.md 1.5: SHA-256 of the canonical JSON (sorted keys, no spaces) of the item without hash.
  assert.equal(h1, createHash('sha256').update('{"id":"no-hash","name":"N","serviceId":"x"}').digest('hex'));

  const [stored] = await ts.server.store.readHistory('Target', 'no-hash');
  assert.equal(typeof stored!.createdAt, 'string');
  const t = Date.parse(stored!.createdAt);
  assert.ok(t >= before - 1000 && t <= after + 1000, `createdAt ${stored!.createdAt} is the time of arrival`);
  assert.equal(stored!.item.hash, h1);

  // The same item sent again without a hash computes the same hash: nothing changes, nothing is broadcast.
  const w = await TestClient.connect(ts.url);
  w.send(seedQuery(w.clientId!, 'w', 'GetTargetsByIds', 'Target', { ids: ['no-hash'] }));
  await w.next(seedResult('w'));
  a.send({ event: 'ws:m:event', data: { clientId: a.clientId, itemType: 'Target', changeType: 'SET', item: { id: 'no-hash', name: 'N', serviceId: 'x' } } });
  await a.sync();
  await w.sync();
  assert.equal(w.all('ws:m:query-response', 'w').length, 1);
  // A real change gives a new hash.
  a.send({ event: 'ws:m:event', data: { clientId: a.clientId, itemType: 'Target', changeType: 'SET', item: { id: 'no-hash', name: 'N2', serviceId: 'x' } } });
  const changed = await w.next((f) => seedResult('w')(f) && f.data[0]?.item.name === 'N2');
  assert.match(changed.data[0].item.hash, /^[0-9a-f]{64}$/);
  assert.notEqual(changed.data[0].item.hash, h1);
  await a.close();
  await w.close();
});

test('seed command response is {event, tx, data}; the handler emits through the event path and reads state', async () => {
  const c = await TestClient.connect(ts.url);
  const watcher = await TestClient.connect(ts.url);
  watcher.send(seedQuery(watcher.clientId!, 'cmd-w', 'GetTargetsByIds', 'Target', { ids: ['cmd-made'] }));
  await watcher.next(seedResult('cmd-w'));
  const count = ts.server.state.count('Target');

  c.send(seedCommand(c.clientId!, 'c1', 'CreateTarget', { id: 'cmd-made', name: 'Made by a command' }));
  const resp = await c.next((f) => f.event === 'ws:m:command-response' && f.tx === 'c1');
  assert.deepEqual(rawAt(c, resp), { event: 'ws:m:command-response', tx: 'c1', data: { created: 'cmd-made', targets: count + 1 } });
  const seen = await watcher.next((f) => seedResult('cmd-w')(f) && f.data.length === 1);
  assert.equal(seen.data[0].item.name, 'Made by a command');
  await c.close();
  await watcher.close();
});

test('unknown command and throwing handler answer ws:m:command-error {tx, commandId, message}', async () => {
  const c = await TestClient.connect(ts.url);
  c.send(seedCommand(c.clientId!, 'u1', 'NoSuchCommand'));
  const unknown = await c.next((f) => f.event === 'ws:m:command-error' && f.data?.tx === 'u1');
  assert.equal(unknown.data.commandId, 'NoSuchCommand');
  assert.equal(typeof unknown.data.message, 'string');
  assert.match(unknown.data.message, /NoSuchCommand/);
  assert.equal(unknown.data.code, 'MYKO_UNKNOWN_COMMAND');
  assert.equal(unknown.tx, 'u1', 'seed clients match on the top-level tx');

  c.send(seedCommand(c.clientId!, 'u2', 'BurnItDown'));
  const thrown = await c.next((f) => f.event === 'ws:m:command-error' && f.data?.tx === 'u2');
  assert.deepEqual(
    { tx: thrown.data.tx, commandId: thrown.data.commandId, message: thrown.data.message },
    { tx: 'u2', commandId: 'BurnItDown', message: 'there is always money in the banana stand' },
  );
  assert.equal(thrown.data.code, 'MYKO_COMMAND_FAILED');

  // The connection carries on.
  c.send(seedCommand(c.clientId!, 'u3', 'CreateTarget', { id: 'after-errors', name: 'Fine' }));
  const ok = await c.next((f) => f.event === 'ws:m:command-response' && f.tx === 'u3');
  assert.equal(ok.data.created, 'after-errors');
  await c.close();
});
