/**
 * The `$` endpoint driven by the public client library, @rise-tools/ws-client
 * (0.3.1, the version on the registry: it sends the nested `evt` form with
 * `event.dataState` and reads `res` of `evt-res`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WS from 'ws';
import { createWSModelSource } from '@rise-tools/ws-client';
import { startTestServer, sleep, type TestServer } from '../testing/index.js';
import { defineCommand, definePlugin } from '../core/registry.js';

/**
 * Node 20 has no global WebSocket; the client (through reconnecting-websocket)
 * uses the global one, so `ws` stands in. The library never exposes its
 * socket to close it, and reconnects forever: at the end the sockets are
 * closed with their listeners removed, so nothing reconnects. (Its 5 s
 * "minimum uptime" timer, set on open, still holds the process that long.)
 */
class NodeWebSocket extends WS {
  static readonly live = new Set<NodeWebSocket>();
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    NodeWebSocket.live.add(this);
    this.on('close', () => NodeWebSocket.live.delete(this));
  }
  static quietCloseAll(): void {
    for (const s of NodeWebSocket.live) {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.terminate();
    }
    NodeWebSocket.live.clear();
  }
}
(globalThis as { WebSocket?: unknown }).WebSocket = NodeWebSocket;

const app = definePlugin({
  name: 'ws-client-test',
  itemTypes: [{ name: 'Cue', schema: { type: 'object', required: ['id', 'label'], properties: { label: { type: 'string' } } } }],
  commands: [
    defineCommand<{ value?: unknown }, unknown>({ id: 'Echo', handler: (p) => p.value }),
    defineCommand<Record<string, unknown>, unknown>({ id: 'Params', handler: (p) => p }),
    defineCommand({
      id: 'Explode',
      handler: () => {
        throw new Error('the cue stack is on fire');
      },
    }),
  ],
});

let ts: TestServer;
before(async () => {
  ts = await startTestServer({ plugins: [app] });
});
after(async () => {
  NodeWebSocket.quietCloseAll();
  await ts.close();
});

/** Collects the values a store subscription receives; `until` waits for one that matches. */
function watch(source: ReturnType<typeof createWSModelSource>, key: string) {
  const values: unknown[] = [];
  const waiters: { pred: (v: any) => boolean; resolve: (v: any) => void }[] = [];
  const stop = source.get(key).subscribe((v) => {
    values.push(v);
    for (const w of [...waiters])
      if (w.pred(v)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(v);
      }
  });
  const until = (pred: (v: any) => boolean, timeoutMs = 3000): Promise<any> => {
    const seen = values.find(pred);
    if (seen !== undefined || values.some(pred)) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (v: unknown) => (clearTimeout(t), resolve(v)) };
      const t = setTimeout(() => reject(new Error(`${key}: timed out; got ${JSON.stringify(values)}`)), timeoutMs);
      waiters.push(w);
    });
  };
  return { values, until, stop: () => withoutLibraryChatter(stop) };
}

/** The library's unsubscribe prints `client unsub KEY` with console.log: kept out of the test output. */
function withoutLibraryChatter(fn: () => void): void {
  const log = console.log;
  console.log = (...args: unknown[]) => void (args[0] === 'client unsub' || log(...args));
  try {
    fn();
  } finally {
    console.log = log;
  }
}

const event = (target: string, payload: unknown) => ({
  target: { key: target, component: 'Button', propKey: 'onPress', path: ['root'] as [string] },
  // The library keeps a timer of this length per event, answered or not: short, so the test process can end.
  dataState: { $: 'event' as const, timeout: 2000 },
  payload,
});

test('@rise-tools/ws-client: subscribe, receive updates, send events and await their responses', async () => {
  const source = createWSModelSource(ts.server.url('/models'));
  const all = watch(source, 'Cue');
  const label = watch(source, 'Cue/r1/label');
  await all.until((v) => Array.isArray(v) && v.length === 0);
  await label.until((v) => v === null);

  // A write through the built-in set: target, answered with the committed item.
  const res = await source.sendEvent(event('set:Cue', { id: 'r1', label: 'Hello' }) as never);
  assert.equal(res.$, 'response');
  assert.equal(res.error, undefined);
  assert.equal((res.payload as { id: string }).id, 'r1');
  await label.until((v) => v === 'Hello');
  await all.until((v) => Array.isArray(v) && v.length === 1 && v[0].label === 'Hello');
  // A write from elsewhere reaches it too.
  await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'r0', label: 'Zero' } });
  const two = await all.until((v) => Array.isArray(v) && v.length === 2);
  assert.deepEqual(two.map((c: { id: string }) => c.id), ['r0', 'r1'], 'sorted by id');

  // Falsy answers survive.
  for (const value of [0, false, '', null]) {
    const r = await source.sendEvent(event('Echo', { value }) as never);
    assert.ok('payload' in r, `payload ${JSON.stringify(value)} kept`);
    assert.equal(r.payload, value);
    assert.notEqual(r.error, true);
  }
  // A failing handler: error with its message as the payload (what the library throws for the component).
  const failed = await source.sendEvent(event('Explode', {}) as never);
  assert.equal(failed.error, true);
  assert.equal(failed.payload, 'the cue stack is on fire');

  // The last local subscriber going sends unsub: the server drops the live query.
  const before = ts.server.ctx.queries.size;
  label.stop();
  for (let i = 0; i < 50 && ts.server.ctx.queries.size === before; i++) await sleep(20);
  assert.equal(ts.server.ctx.queries.size, before - 1);
  all.stop();
});

/**
 * What @rise-tools/react's renderer sends for a `<Rise>` UI (rise.tsx, renderProp): every handler becomes
 * `async (...args) => onEvent({target, dataState, payload: args})`, React event arguments replaced by the
 * string "[native code]"; a `handler` event with `args` sends `[{...args}]`. The source forwards it as is.
 */
const uiEvent = (target: string, args: unknown[], propKey = 'onPress') => ({
  target: { key: target, component: 'Button', propKey, path: ['root'] as [string] },
  dataState: { $: 'event' as const, timeout: 2000 },
  payload: args.map((a) => ((a as { nativeEvent?: unknown } | null)?.nativeEvent ? '[native code]' : a)),
});

test('@rise-tools/ws-client: a <Rise> UI writes through set:, del: and commands with the renderer\'s argument arrays', async () => {
  const source = createWSModelSource(ts.server.url('/models'));
  const level = watch(source, 'Cue/l6/label');
  await level.until((v) => v === null);
  // A handler called with one argument: the item.
  const set = await source.sendEvent(uiEvent('set:Cue', [{ id: 'l6', label: 'Level 6' }], 'onValueChange') as never);
  assert.notEqual(set.error, true, JSON.stringify(set));
  assert.equal((set.payload as { id: string }).id, 'l6');
  await level.until((v) => v === 'Level 6');
  // A command from a form (`handler` with args: one object argument).
  const cmd = await source.sendEvent(uiEvent('Params', [{ id: 'l6', level: 6 }], 'onSubmit') as never);
  assert.deepEqual(cmd.payload, { id: 'l6', level: 6 });
  // A button press: the React event argument becomes "[native code]", which is no argument.
  const press = await source.sendEvent(uiEvent('Params', [{ nativeEvent: {} }]) as never);
  assert.deepEqual(press.payload, {});
  // Delete by item.
  const del = await source.sendEvent(uiEvent('del:Cue', [{ id: 'l6' }]) as never);
  assert.notEqual(del.error, true, JSON.stringify(del));
  await level.until((v) => v === null);
  assert.equal(ts.server.state.get('Cue', 'l6'), undefined);
  level.stop();
});
