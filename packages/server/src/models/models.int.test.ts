import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, sleep, type TestServer } from '../testing/index.js';
import { JsonClient, type AnyMessage } from '../testing/json-client.js';
import { defineCommand, defineQuery, definePlugin, defineReport } from '../core/registry.js';

const app = definePlugin({
  name: 'models-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
  commands: [
    defineCommand<{ label?: unknown; value?: unknown }, unknown>({
      id: 'AddCue',
      schema: { type: 'object', required: ['label'], properties: { label: { type: 'string', minLength: 1 } } },
      async handler(p, ctx) {
        const id = `added-${ctx.state.count('Cue') + 1}`;
        await ctx.emit({ itemType: 'Cue', changeType: 'SET', item: { id, label: p.label as string } });
        return { id };
      },
    }),
    defineCommand<{ value?: unknown }, unknown>({ id: 'Echo', handler: (p) => p.value }),
    defineCommand<Record<string, unknown>, unknown>({ id: 'Params', handler: (p) => p }),
    defineCommand({ id: 'NoAnswer', handler: () => undefined }),
    defineCommand({ id: 'BigAnswer', handler: () => 10n }),
    defineCommand({
      id: 'Explode',
      handler: () => {
        throw new Error('the cue stack is on fire');
      },
    }),
  ],
  queries: [
    defineQuery<{ prefix?: unknown }>({
      id: 'CuesStartingWith',
      itemType: 'Cue',
      compile: (p) => {
        if (typeof p.prefix !== 'string') throw new Error('prefix must be a string');
        const prefix = p.prefix;
        return { match: (item) => String(item.label).startsWith(prefix) };
      },
    }),
  ],
  reports: [
    defineReport<Record<string, unknown>, string[]>({
      id: 'CueLabels',
      dependsOn: () => ['Cue'],
      compute: (_p, state) => [...state.all('Cue')].map((c) => String(c.label)).sort(),
    }),
  ],
});

let ts: TestServer;
let url: string;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
  url = ts.server.url('/models');
});
after(async () => {
  await ts.close();
});

const up = (key: string) => (m: AnyMessage) => m.$ === 'up' && m.key === key;
const res = (key: string) => (m: AnyMessage) => m.$ === 'evt-res' && m.key === key;
const errorFor = (key?: string) => (m: AnyMessage) => m.$ === 'error' && (key === undefined || m.key === key);

/** Nested (seed) form of an evt. */
const evt = (key: string, target: string, payload?: unknown) => ({
  $: 'evt',
  key,
  event: { modelState: { $: 'event' }, ...(payload !== undefined ? { payload } : {}), target: { key: target, component: 'Button', propKey: 'onPress', path: ['root'] } },
});
/** Flat form, as current @rise-tools clients send it. */
const flatEvt = (key: string, target: string, payload?: unknown) => ({
  $: 'evt',
  key,
  target: { key: target, component: 'Button', propKey: 'onPress', path: ['root'] },
  modelState: { $: 'event' },
  ...(payload !== undefined ? { payload } : {}),
});

test('sub answers at once per key: a type (sorted array), an item (null when absent), a field', async () => {
  await ts.server.emit([
    { itemType: 'Cue', changeType: 'SET', item: { id: 'b', label: 'Bravo' } },
    { itemType: 'Cue', changeType: 'SET', item: { id: 'a', label: 'Alpha' } },
  ]);
  const c = await JsonClient.connect(url);
  c.send({ $: 'sub', keys: ['Cue', 'Cue/a', 'Cue/a/label', 'Cue/zz', 'Cue/a/nope'] });
  const all = await c.next(up('Cue'));
  assert.deepEqual(
    all.val.map((x: { id: string; label: string }) => [x.id, x.label]),
    [
      ['a', 'Alpha'],
      ['b', 'Bravo'],
    ],
  );
  assert.equal((await c.next(up('Cue/a'))).val.label, 'Alpha');
  assert.equal((await c.next(up('Cue/a/label'))).val, 'Alpha');
  assert.equal((await c.next(up('Cue/zz'))).val, null);
  assert.equal((await c.next(up('Cue/a/nope'))).val, null);
  await c.close();
  await ts.server.emit([
    { itemType: 'Cue', changeType: 'DEL', item: { id: 'a' } },
    { itemType: 'Cue', changeType: 'DEL', item: { id: 'b' } },
  ]);
});

test('updates follow every change, only for keys whose value changed; unsub stops them and cancels the live query', async () => {
  const c = await JsonClient.connect(url);
  const baseline = ts.server.ctx.queries.size;
  c.send({ $: 'sub', keys: ['Cue', 'Cue/k1', 'Cue/k1/label', 'Cue/k1/color'] });
  await c.next(up('Cue/k1/color'));
  assert.equal(ts.server.ctx.queries.size, baseline + 4);

  await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'k1', label: 'One', color: 'red' } });
  assert.deepEqual((await c.next(up('Cue/k1/label'), 3000, 0)).val, null); // the first answer
  const label = await c.nextNew(up('Cue/k1/label'));
  assert.equal(label.val, 'One');
  await c.next((m) => up('Cue/k1/color')(m) && m.val === 'red');

  // Only the color changes: the label key is not sent again.
  const before = c.messages.length;
  await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'k1', label: 'One', color: 'blue' } });
  await c.next((m) => up('Cue/k1/color')(m) && m.val === 'blue', 3000, before);
  await c.next((m) => up('Cue/k1')(m) && m.val?.color === 'blue', 3000, before);
  await c.next((m) => up('Cue')(m) && m.val[0]?.color === 'blue', 3000, before);
  assert.equal(c.messages.slice(before).filter(up('Cue/k1/label')).length, 0);

  // An equal SET changes nothing and sends nothing.
  const still = c.messages.length;
  await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'k1', label: 'One', color: 'blue' } });

  c.send({ $: 'unsub', keys: ['Cue/k1/color', 'Cue/never-subscribed'] });
  await sleep(50);
  assert.equal(ts.server.ctx.queries.size, baseline + 3);
  await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'k1' } });
  await c.next((m) => up('Cue/k1')(m) && m.val === null, 3000, still);
  await c.next((m) => up('Cue/k1/label')(m) && m.val === null, 3000, still);
  await c.next((m) => up('Cue')(m) && m.val.length === 0, 3000, still);
  assert.equal(c.messages.slice(still).filter(up('Cue/k1/color')).length, 0);
  assert.equal(c.messages.slice(still).filter(up('Cue/k1')).length, 1, 'the equal SET sent nothing');

  // A second sub of a live key answers again without stacking a second query.
  c.send({ $: 'sub', keys: ['Cue'] });
  await c.nextNew(up('Cue'));
  assert.equal(ts.server.ctx.queries.size, baseline + 3);

  await c.close();
  await sleep(50);
  assert.equal(ts.server.ctx.queries.size, baseline, 'disconnect releases every live query');
});

test('named queries with parameters, the equality shorthand, and reports', async () => {
  const c = await JsonClient.connect(url);
  c.send({ $: 'sub', keys: ['query/CuesStartingWith/Cue?prefix=Go', 'Cue?label=Stop', 'report/CueLabels', 'report/GetCuesCount'] });
  assert.deepEqual((await c.next(up('query/CuesStartingWith/Cue?prefix=Go'))).val, []);
  assert.deepEqual((await c.next(up('report/CueLabels'))).val, []);
  assert.equal((await c.next(up('report/GetCuesCount'))).val, 0);
  await ts.server.emit([
    { itemType: 'Cue', changeType: 'SET', item: { id: 'q2', label: 'Go 2' } },
    { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'Go 1' } },
    { itemType: 'Cue', changeType: 'SET', item: { id: 'q3', label: 'Stop' } },
  ]);
  const go = await c.next((m) => up('query/CuesStartingWith/Cue?prefix=Go')(m) && m.val.length === 2);
  assert.deepEqual(go.val.map((x: { id: string }) => x.id), ['q1', 'q2']);
  const stop = await c.next((m) => up('Cue?label=Stop')(m) && m.val.length === 1);
  assert.equal(stop.val[0].id, 'q3');
  assert.deepEqual((await c.next((m) => up('report/CueLabels')(m) && m.val.length === 3)).val, ['Go 1', 'Go 2', 'Stop']);
  await c.next((m) => up('report/GetCuesCount')(m) && m.val === 3);
  await c.close();
  await ts.server.emit(['q1', 'q2', 'q3'].map((id) => ({ itemType: 'Cue', changeType: 'DEL' as const, item: { id } })));
});

test('evt runs the command named by target.key: nested form answered nested, flat form answered flat', async () => {
  const c = await JsonClient.connect(url);
  c.send(evt('e1', 'AddCue', { label: 'Nested' }));
  const r1 = await c.next(res('e1'));
  assert.deepEqual(r1, { $: 'evt-res', key: 'e1', res: { $: 'response', payload: { id: 'added-1' } } });
  c.send(flatEvt('e2', 'AddCue', { label: 'Flat' }));
  const r2 = await c.next(res('e2'));
  assert.deepEqual(r2, { $: 'evt-res', key: 'e2', payload: { id: 'added-2' } });
  assert.equal(ts.server.state.get('Cue', 'added-2')?.label, 'Flat');
  // A payload that is not an object reaches the command as {value}; no payload as {}. An array payload is the
  // handler's argument list (WIRE.md 6.8): an array argument is sent wrapped.
  c.send(flatEvt('e3', 'Params', [['a', 1]]));
  assert.deepEqual((await c.next(res('e3'))).payload, { value: ['a', 1] });
  c.send(flatEvt('e4', 'Params'));
  assert.deepEqual((await c.next(res('e4'))).payload, {});
  // A handler with no answer: evt-res without payload.
  c.send(evt('e5', 'NoAnswer', {}));
  assert.deepEqual(await c.next(res('e5')), { $: 'evt-res', key: 'e5', res: { $: 'response' } });
  await c.close();
  await ts.server.emit(['added-1', 'added-2'].map((id) => ({ itemType: 'Cue', changeType: 'DEL' as const, item: { id } })));
});

test('falsy payloads and error messages survive in both forms', async () => {
  const c = await JsonClient.connect(url);
  const values = [0, false, '', null];
  values.forEach((v, i) => c.send(evt(`n${i}`, 'Echo', v)));
  values.forEach((v, i) => c.send(flatEvt(`f${i}`, 'Echo', v)));
  for (let i = 0; i < values.length; i++) {
    const n = await c.next(res(`n${i}`));
    assert.ok('payload' in n.res, `nested ${JSON.stringify(values[i])} kept`);
    assert.equal(n.res.payload, values[i]);
    const f = await c.next(res(`f${i}`));
    assert.ok('payload' in f, `flat ${JSON.stringify(values[i])} kept`);
    assert.equal(f.payload, values[i]);
  }
  c.send(evt('x1', 'Explode', {}));
  assert.deepEqual(await c.next(res('x1')), {
    $: 'evt-res',
    key: 'x1',
    res: { $: 'response', error: true, payload: 'the cue stack is on fire', code: 'MYKO_COMMAND_FAILED' },
  });
  c.send(flatEvt('x2', 'Explode', {}));
  assert.deepEqual(await c.next(res('x2')), { $: 'evt-res', key: 'x2', error: true, payload: 'the cue stack is on fire', code: 'MYKO_COMMAND_FAILED' });
  c.send(flatEvt('x3', 'NoSuchCommand', {}));
  const unknown = await c.next(res('x3'));
  assert.equal(unknown.error, true);
  assert.equal(unknown.code, 'MYKO_UNKNOWN_COMMAND');
  c.send(flatEvt('x4', 'AddCue', { label: 7 }));
  const badParams = await c.next(res('x4'));
  assert.equal(badParams.code, 'MYKO_BAD_COMMAND');
  assert.match(badParams.payload, /label/);
  // No target key: still exactly one evt-res.
  c.send({ $: 'evt', key: 'x5', event: { payload: 1, target: { component: 'Button', propKey: 'onPress', path: [] } } });
  assert.equal((await c.next(res('x5'))).res.code, 'MYKO_BAD_COMMAND');
  // A response JSON cannot carry is still answered, as an error.
  c.send(flatEvt('x6', 'BigAnswer', {}));
  const big = await c.next(res('x6'));
  assert.deepEqual([big.error, big.code], [true, 'MYKO_COMMAND_FAILED']);
  assert.match(big.payload, /not JSON/);
  await sleep(50);
  for (const k of ['n0', 'f0', 'x1', 'x2', 'x5', 'x6']) assert.equal(c.all(res(k)).length, 1, `one evt-res for ${k}`);
  await c.close();
});

test('set:ITEMTYPE / del:ITEMTYPE write through the ordinary event path, validation included', async () => {
  const c = await JsonClient.connect(url);
  c.send({ $: 'sub', keys: ['Cue/w1'] });
  await c.next(up('Cue/w1'));
  c.send(flatEvt('s1', 'set:Cue', { id: 'w1', label: 'Written' }));
  const r = await c.next(res('s1'));
  assert.equal(r.payload.id, 'w1');
  assert.equal(typeof r.payload.hash, 'string', 'answered with the item as committed');
  assert.equal((await c.next((m) => up('Cue/w1')(m) && m.val !== null)).val.label, 'Written');
  const ev = (await ts.server.store.readAfter(0, 100_000)).filter((e) => e.itemType === 'Cue' && e.item.id === 'w1');
  assert.equal(ev.length, 1, 'in the log');

  // The item type's schema refuses it: nothing stored.
  c.send(evt('s2', 'set:Cue', { id: 'w2' }));
  const refused = await c.next(res('s2'));
  assert.equal(refused.res.error, true);
  assert.equal(refused.res.code, 'MYKO_BAD_EVENT');
  assert.match(refused.res.payload, /label/);
  assert.equal(ts.server.state.get('Cue', 'w2'), undefined);
  c.send(evt('s3', 'set:Cue', { label: 'no id' }));
  assert.match((await c.next(res('s3'))).res.payload, /id/);
  c.send(evt('s4', 'set:', { id: 'x' }));
  assert.equal((await c.next(res('s4'))).res.code, 'MYKO_BAD_EVENT');

  c.send(flatEvt('d1', 'del:Cue', 'w1'));
  assert.deepEqual((await c.next(res('d1'))).payload, { id: 'w1' });
  await c.next((m) => up('Cue/w1')(m) && m.val === null);
  await c.close();
});

test('WIRE.md 6.8: a payload that is the renderer\'s argument array works for set:, del: and commands, in both forms', async () => {
  const c = await JsonClient.connect(url);
  // Seed (nested) form, then flat form; `[item]` is the handler's one argument.
  c.send(evt('a1', 'set:Cue', [{ id: 'l6', label: 'Six' }]));
  assert.equal((await c.next(res('a1'))).res.payload.id, 'l6');
  c.send(flatEvt('a2', 'set:Cue', [{ id: 'l7', label: 'Seven' }]));
  assert.equal((await c.next(res('a2'))).payload.id, 'l7');
  assert.equal(ts.server.state.get('Cue', 'l6')?.label, 'Six');
  assert.equal(ts.server.state.get('Cue', 'l7')?.label, 'Seven');
  // Several arguments: the first is the one (a picker's `(value, index)`).
  c.send(flatEvt('a3', 'set:Cue', [{ id: 'l8', label: 'Eight' }, 3]));
  assert.equal((await c.next(res('a3'))).payload.id, 'l8');
  // del: with the item or its id as the argument.
  c.send(evt('a4', 'del:Cue', [{ id: 'l6' }]));
  assert.deepEqual((await c.next(res('a4'))).res.payload, { id: 'l6' });
  c.send(flatEvt('a5', 'del:Cue', ['l7']));
  assert.deepEqual((await c.next(res('a5'))).payload, { id: 'l7' });
  assert.equal(ts.server.state.get('Cue', 'l6'), undefined);
  assert.equal(ts.server.state.get('Cue', 'l7'), undefined);
  // Commands: `[params]` are the params; `[]` and a button press (the renderer's "[native code]") are none.
  c.send(evt('a6', 'Params', [{ level: 6 }]));
  assert.deepEqual((await c.next(res('a6'))).res.payload, { level: 6 });
  c.send(flatEvt('a7', 'Params', []));
  assert.deepEqual((await c.next(res('a7'))).payload, {});
  c.send(flatEvt('a8', 'Params', ['[native code]']));
  assert.deepEqual((await c.next(res('a8'))).payload, {});
  c.send(flatEvt('a9', 'Echo', [7]));
  assert.deepEqual((await c.next(res('a9'))).payload, 7);
  // set: with no argument: refused with the event path's message, one evt-res.
  c.send(flatEvt('a10', 'set:Cue', ['[native code]']));
  const none = await c.next(res('a10'));
  assert.equal(none.error, true);
  assert.equal(none.code, 'MYKO_BAD_EVENT');
  await c.close();
  await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'l8' } });
});

test('the reference built-ins as keys: Count{X}s, Get{X}ById, and a report about the caller', async () => {
  const c = await JsonClient.connect(url);
  c.send({ $: 'sub', keys: ['report/CountCues?label=Go', 'report/GetCueById?id=k1', 'report/WindbackStatus'] });
  await c.next((m) => up('report/CountCues?label=Go')(m) && m.val.count === 0);
  await c.next((m) => up('report/GetCueById?id=k1')(m) && m.val === null);
  await c.next((m) => up('report/WindbackStatus')(m) && m.val.windback === null);
  c.send(flatEvt('k', 'set:Cue', [{ id: 'k1', label: 'Go' }]));
  await c.next((m) => up('report/CountCues?label=Go')(m) && m.val.count === 1);
  await c.next((m) => up('report/GetCueById?id=k1')(m) && m.val?.label === 'Go');
  c.send(flatEvt('w', 'SetClientWindbackTime', [{ windback: '2026-12-06T00:00:00Z' }]));
  assert.equal((await c.next(res('w'))).payload, true);
  await c.next((m) => up('report/WindbackStatus')(m) && m.val.windback === '2026-12-06T00:00:00Z');
  await c.close();
  await ts.server.emit({ itemType: 'Cue', changeType: 'DEL', item: { id: 'k1' } });
});

test('bad input gets an error message and the connection stays up', async () => {
  const c = await JsonClient.connect(url);
  c.send('{not json');
  assert.equal((await c.next(errorFor())).code, 'MYKO_BAD_JSON');
  c.send({ keys: ['Cue'] });
  assert.equal((await c.nextNew(errorFor())).code, 'MYKO_BAD_FRAME');
  c.send({ $: 'hello' });
  assert.equal((await c.nextNew(errorFor())).code, 'MYKO_UNKNOWN_KIND');
  c.send({ $: 'sub', keys: 'Cue' });
  assert.match((await c.nextNew(errorFor())).message, /keys/);
  c.send({ $: 'evt', event: {} });
  assert.equal((await c.nextNew(errorFor())).code, 'MYKO_BAD_FRAME');
  // An evt whose key is readable is answered by its evt-res, however bad the rest.
  c.send({ $: 'evt', key: 'bad-event', event: 5 });
  const badEvent = await c.next(res('bad-event'));
  assert.deepEqual([badEvent.res.error, badEvent.res.code], [true, 'MYKO_BAD_FRAME']);
  c.send({ $: 'sub', keys: ['Cue/a/b/c', 'report/NoSuchReport', 'query/CuesStartingWith/Cue', 'report/CountItems'] });
  assert.equal((await c.next(errorFor('report/CountItems'))).code, 'MYKO_BAD_REPORT');
  assert.equal((await c.next(errorFor('Cue/a/b/c'))).code, 'MYKO_BAD_QUERY');
  assert.equal((await c.next(errorFor('report/NoSuchReport'))).code, 'MYKO_UNKNOWN_REPORT');
  const q = await c.next(errorFor('query/CuesStartingWith/Cue'));
  assert.equal(q.code, 'MYKO_BAD_QUERY');
  assert.match(q.message, /prefix/);
  c.send(Buffer.from([1, 2, 3]));
  assert.match((await c.nextNew(errorFor())).message, /binary/);
  c.send(JSON.stringify({ $: 'sub', keys: ['x'.repeat(2 * 1024 * 1024)] }));
  assert.equal((await c.nextNew(errorFor())).code, 'MYKO_FRAME_TOO_LARGE');
  // Still serving.
  c.send({ $: 'sub', keys: ['Cue/alive'] });
  assert.equal((await c.next(up('Cue/alive'))).val, null);
  await c.close();
});

test('each connection is a Client item with protocol "models", retired on disconnect', async () => {
  const c = await JsonClient.connect(url);
  c.send({ $: 'sub', keys: ['Client'] });
  const clients = await c.next((m) => up('Client')(m) && m.val.some((x: { protocol?: string }) => x.protocol === 'models'));
  const mine = clients.val.find((x: { protocol?: string }) => x.protocol === 'models');
  assert.equal(mine.serverId, ts.server.serverId);
  await c.close();
  for (let i = 0; i < 50 && ts.server.state.get('Client', mine.id); i++) await sleep(20);
  assert.equal(ts.server.state.get('Client', mine.id), undefined);
});
