import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { startTestServer, tempDir, TestClient, sleep, testPostgres, type TestServer, until } from '../testing/index.js';
import { reactionTestPlugin } from '../testing/reaction-plugin.js';
import { definePlugin, type MykoPlugin } from '../core/registry.js';
import { defineReaction } from './define.js';
import type { MykoServer } from '../server.js';
import type { StoredEvent } from '../store/event-store.js';


async function logOf(server: MykoServer, itemType: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (let after = 0; ; ) {
    const page = await server.store.readAfter(after, 5000, { itemType });
    out.push(...page);
    if (page.length < 5000) return out;
    after = page[page.length - 1]!.position;
  }
}

function sendOrders(c: TestClient, from: number, n: number, perBatch = 10): void {
  for (let i = from; i < from + n; i += perBatch)
    c.send({
      event: 'ws:m:event-batch',
      data: Array.from({ length: Math.min(perBatch, from + n - i) }, (_, j) => ({ itemType: 'RxOrder', changeType: 'SET', item: { id: `o${i + j}`, seq: i + j } })),
    });
}

/** Orders in, effects out: in log order, one at a time, as the internal caller, each once. */
async function checkInOrder(start: (extra?: object) => Promise<TestServer>): Promise<void> {
  const ts = await start();
  try {
    const c = await TestClient.connect(ts.url);
    sendOrders(c, 0, 60);
    // A DEL is not a SET: the reaction (changeType SET) ignores it.
    c.send({ event: 'ws:m:event', data: { itemType: 'RxOrder', changeType: 'DEL', item: { id: 'o0' } } });
    await until(() => ts.server.state.count('RxEffect') === 60, 20_000, '60 effects');
    await sleep(100);
    const orders = (await logOf(ts.server, 'RxOrder')).filter((e) => e.changeType === 'SET');
    const effects = await logOf(ts.server, 'RxEffect');
    assert.equal(effects.length, 60, 'one command per SET, none for the DEL, none twice');
    assert.deepEqual(
      effects.map((e) => e.item.orderId),
      orders.map((e) => e.item.id),
      'commands ran in the log order of their events',
    );
    assert.ok(effects.every((e) => e.item.overlapped === false), 'never two commands of the reaction at once');
    assert.ok(effects.every((e) => e.item.caller === 'reaction:record-effects'), 'run as the named internal caller');
    const status = ts.server.ctx.reactions.status()[0]!;
    assert.equal(status.handled, 60);
    assert.equal(status.lag, 0);
    await c.close();
  } finally {
    await ts.close();
  }
}

test('a reaction turns SETs into commands, in order, one at a time, as its named caller (SQLite)', async () => {
  await checkInOrder(() => startTestServer({ plugins: [reactionTestPlugin()] }));
});

test('a reaction turns SETs into commands, in order, one at a time, as its named caller (PostgreSQL)', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  try {
    await checkInOrder(() => startTestServer({ plugins: [reactionTestPlugin()], config: { postgresUrl: db.url, postgresSchema: db.schema } }));
  } finally {
    await db.drop();
  }
});

/** Stop with orders still waiting, restart on the same store: every order handled, none twice. */
async function checkResume(start: () => Promise<TestServer>): Promise<void> {
  let ts = await start();
  const c = await TestClient.connect(ts.url);
  sendOrders(c, 0, 80, 20);
  await until(() => ts.server.state.count('RxOrder') === 80 && ts.server.state.count('RxEffect') >= 10, 10_000, 'some effects');
  await c.close();
  const handledBefore = ts.server.state.count('RxEffect');
  await ts.server.stop(); // with orders not yet handled
  assert.ok(handledBefore < 80, `the stop came mid-stream (${handledBefore} of 80 handled)`);
  ts = await start();
  try {
    await until(() => ts.server.state.count('RxEffect') === 80, 20_000, 'all 80 effects after the restart');
    await sleep(100);
    const effects = await logOf(ts.server, 'RxEffect');
    assert.equal(effects.length, 80, 'a graceful stop finishes the event in hand: every order once');
  } finally {
    await ts.close();
  }
}

test('after a restart a reaction resumes from its stored cursor (SQLite)', async () => {
  const dataDir = tempDir();
  try {
    await checkResume(() => startTestServer({ dataDir, plugins: [reactionTestPlugin({ delayMs: 10 })] }));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('after a restart a reaction resumes from its stored cursor (PostgreSQL)', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  try {
    await checkResume(() => startTestServer({ plugins: [reactionTestPlugin({ delayMs: 10 })], config: { postgresUrl: db.url, postgresSchema: db.schema } }));
  } finally {
    await db.drop();
  }
});

/** Flaky fails the first two attempts of each event; Broken always fails. */
function failingPlugin(attempts: Map<string, number[]>): MykoPlugin {
  return definePlugin({
    name: 'failing',
    commands: [
      {
        id: 'Flaky',
        handler: async (p, ctx) => {
          const list = attempts.get(ctx.tx) ?? [];
          list.push(Date.now());
          attempts.set(ctx.tx, list);
          if (list.length <= 2) throw new Error(`flaky failure ${list.length}`);
          await ctx.emit({ itemType: 'RxEffect', changeType: 'SET', item: { id: ctx.tx, orderId: String(p.orderId) } });
          return true;
        },
      },
      {
        id: 'Broken',
        handler: () => {
          throw new Error('the light desk is unplugged');
        },
      },
    ],
    reactions: [
      defineReaction({ id: 'flaky', itemType: 'RxOrder', backoffMs: 100, run: (e) => ({ commandId: 'Flaky', params: { orderId: e.item.id } }) }),
      defineReaction({ id: 'broken', itemType: 'RxOrder', maxAttempts: 3, backoffMs: 20, run: () => ({ commandId: 'Broken' }) }),
    ],
  });
}

test('a failing command is retried with backoff, then given up and reported on /metrics and /api/reactions', async () => {
  const attempts = new Map<string, number[]>();
  const ts = await startTestServer({ plugins: [failingPlugin(attempts)] });
  try {
    const c = await TestClient.connect(ts.url);
    sendOrders(c, 0, 2, 2);
    await until(() => ts.server.state.count('RxEffect') === 2, 10_000, 'both flaky events handled after retries');
    for (const [tx, times] of attempts) {
      assert.equal(times.length, 3, `${tx}: two failures then a success`);
      const gap1 = times[1]! - times[0]!;
      const gap2 = times[2]! - times[1]!;
      assert.ok(gap1 >= 90, `${tx}: first retry after the backoff (${gap1} ms)`);
      assert.ok(gap2 >= 190, `${tx}: the backoff doubles (${gap2} ms)`);
    }
    await until(() => ts.server.ctx.reactions.status().find((s) => s.id === 'broken')!.failures === 2, 10_000, 'broken gave up on both');
    const base = ts.url.replace('ws://', 'http://').replace('/myko', '');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /myko_reaction_failures_total\{reaction="broken"\} 2\n/);
    assert.match(metrics, /myko_reaction_failures_total\{reaction="flaky"\} 0\n/);
    assert.match(metrics, /myko_reaction_retries_total\{reaction="flaky"\} 4\n/);
    assert.match(metrics, /myko_reaction_retries_total\{reaction="broken"\} 4\n/);
    assert.match(metrics, /myko_reaction_lag_events\{reaction="broken"\} 0\n/);
    const api = (await (await fetch(`${base}/api/reactions`)).json()) as { reactions: { id: string; failures: number; lastError?: { message: string; itemId: string } }[] };
    const broken = api.reactions.find((r) => r.id === 'broken')!;
    assert.equal(broken.failures, 2);
    assert.match(broken.lastError!.message, /Broken: the light desk is unplugged/);
    assert.equal(broken.lastError!.itemId, 'o1');
    await c.close();
  } finally {
    await ts.close();
  }
});

test('cluster: two members with the same reaction run it once (PostgreSQL advisory lock), and the other takes over', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const config = { postgresUrl: db.url, postgresSchema: db.schema };
  const a = await startTestServer({ plugins: [reactionTestPlugin()], config });
  const b = await startTestServer({ plugins: [reactionTestPlugin()], config });
  let bClosed = false;
  try {
    const ca = await TestClient.connect(a.url);
    const cb = await TestClient.connect(b.url);
    // Orders through both members at once.
    sendOrders(ca, 0, 40);
    sendOrders(cb, 40, 40);
    await until(() => a.server.state.count('RxEffect') === 80, 20_000, '80 effects');
    await sleep(300);
    const effects = await logOf(a.server, 'RxEffect');
    assert.equal(effects.length, 80, 'each order handled once across the two members');
    assert.ok(effects.every((e) => e.item.overlapped === false));
    const active = [a, b].filter((m) => m.server.ctx.reactions.status()[0]!.active);
    assert.equal(active.length, 1, 'exactly one member runs the reaction');
    // The runner leaves: the other member takes the lock and carries on from the shared cursor.
    const [runner, other] = active[0] === a ? [a, b] : [b, a];
    const otherClient = runner === a ? cb : ca;
    await runner.close();
    if (runner === b) bClosed = true;
    sendOrders(otherClient, 80, 20);
    await until(() => other.server.state.count('RxEffect') === 100, 20_000, '100 effects after the takeover');
    await sleep(300);
    assert.equal((await logOf(other.server, 'RxEffect')).length, 100, 'none twice after the takeover');
    assert.equal(other.server.ctx.reactions.status()[0]!.active, true);
    await otherClient.close();
    if (runner === a) {
      await b.close();
      bClosed = true;
    } else await a.close();
  } finally {
    if (!bClosed) await b.close().catch(() => undefined);
    await a.close().catch(() => undefined);
    await db.drop();
  }
});

test('permission rules see the reaction as its named caller (claims sub "reaction:<id>")', async () => {
  const dir = tempDir();
  const rules = `${dir}/permissions.json`;
  writeFileSync(rules, JSON.stringify({ commands: { RecordRxEffect: { claim: 'sub', equals: 'reaction:record-effects' } } }));
  const ts = await startTestServer({ plugins: [reactionTestPlugin()], config: { permissionsFile: rules } });
  try {
    const c = await TestClient.connect(ts.url);
    sendOrders(c, 0, 3, 3);
    await until(() => ts.server.state.count('RxEffect') === 3, 10_000, 'the reaction may run RecordRxEffect');
    c.send({ event: 'ws:m:command', data: { commandId: 'RecordRxEffect', command: { tx: 'by-hand', orderId: 'x', seq: 0 } } });
    const refused = await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'by-hand');
    assert.equal(refused.data.code, 'MYKO_FORBIDDEN', 'a client may not');
    await c.close();
  } finally {
    await ts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
