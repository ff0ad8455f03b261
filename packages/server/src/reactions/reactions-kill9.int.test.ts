/**
 * kill -9 mid-stream, 3 rounds. A CLI child runs the reaction test plugin
 * (testing/reaction-plugin.ts: each RxOrder SET → one RecordRxEffect command,
 * idempotent by its tx, taking a few ms). Each round a client keeps sending
 * orders while the reaction works through them, and the server is killed with
 * SIGKILL at a random moment after effects started flowing. At the end the
 * server runs until the reaction caught up, and the log (read directly) must
 * show: every stored order has its effect (none skipped), no order has two
 * effects, and effect events number at most orders + kills (only the event
 * in flight at a kill may be delivered again, with the same tx).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { exited, sleep, spawnServer, tempDir, TestClient, testPostgres } from '../testing/index.js';
import { alive, readLog, stopServer } from '../fault/support.js';

const plugin = fileURLToPath(new URL('../testing/reaction-plugin.js', import.meta.url));
const env = { MYKO_PLUGINS: plugin, MYKO_RX_DELAY_MS: '4', MYKO_LOG_LEVEL: 'info' };
const rounds = 3;

async function effectCount(c: TestClient, tx: string): Promise<number> {
  const f = c.all('ws:m:report-response', tx).at(-1);
  return (f?.data.response as { count?: number } | undefined)?.count ?? 0;
}

type Effect = { id: string; orderId: string; overlapped: boolean };
interface Store {
  env: Record<string, string>;
  /** Item ids (orders) or items (effects) of the log's events of a type, in log order; the server is stopped. */
  orders(): Promise<string[]>;
  effects(): Promise<Effect[]>;
}

test('kill -9 mid-stream: after restarts every committed order is handled, none twice (SQLite)', async () => {
  const dataDir = tempDir();
  try {
    await killRounds(dataDir, {
      env: {},
      orders: async () => readLog(dataDir, 'RxOrder').map((r) => r.item_id),
      effects: async () => readLog(dataDir, 'RxEffect').map((r) => (JSON.parse(r.event) as { item: Effect }).item),
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('kill -9 mid-stream: after restarts every committed order is handled, none twice (PostgreSQL)', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const dataDir = tempDir();
  const read = async <T>(itemType: string, pick: (row: { item_id: string; event: { item: Effect } }) => T): Promise<T[]> => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query(`SELECT item_id, event FROM "${db.schema}".myko_events WHERE item_type = $1 ORDER BY id`, [itemType]);
      return r.rows.map(pick);
    } finally {
      await c.end();
    }
  };
  try {
    await killRounds(dataDir, {
      env: { MYKO_POSTGRES_URL: db.url, MYKO_POSTGRES_SCHEMA: db.schema },
      orders: () => read('RxOrder', (r) => r.item_id),
      effects: () => read('RxEffect', (r) => r.event.item),
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  }
});

async function killRounds(dataDir: string, store: Store): Promise<void> {
  let next = 0;
  for (let round = 0; round < rounds; round++) {
    const server = await spawnServer({ dataDir, env: { ...env, ...store.env } });
    const c = await TestClient.connect(server.url);
    c.send({ event: 'ws:m:report', data: { reportId: 'CountAllRxEffects', report: { tx: 'n' } } });
    await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === 'n');
    const start = await effectCount(c, 'n');
    let sending = true;
    const pump = (async () => {
      while (sending && c.ws.readyState === c.ws.OPEN) {
        const batch = Array.from({ length: 5 }, () => {
          const i = next++;
          return { itemType: 'RxOrder', changeType: 'SET', item: { id: `o${i}`, seq: i } };
        });
        c.send({ event: 'ws:m:event-batch', data: batch });
        await sleep(10);
      }
    })();
    const deadline = Date.now() + 15_000;
    while ((await effectCount(c, 'n')) < start + 20 && Date.now() < deadline) await sleep(5);
    assert.ok((await effectCount(c, 'n')) >= start + 20, `round ${round}: effects flowed before the kill`);
    await sleep(Math.floor(Math.random() * 300));
    assert.ok(alive(server.proc));
    server.proc.kill('SIGKILL');
    await exited(server.proc);
    sending = false;
    await pump;
    await c.close().catch(() => undefined);
  }
  // Catch up, then stop cleanly and read the log.
  const server = await spawnServer({ dataDir, env: { ...env, ...store.env } });
  const c = await TestClient.connect(server.url);
  c.send({ event: 'ws:m:report', data: { reportId: 'CountAllRxOrders', report: { tx: 'orders' } } });
  c.send({ event: 'ws:m:report', data: { reportId: 'CountAllRxEffects', report: { tx: 'n' } } });
  await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === 'orders');
  const orderCount = await effectCount(c, 'orders');
  const deadline = Date.now() + 30_000;
  while ((await effectCount(c, 'n')) < orderCount && Date.now() < deadline) await sleep(20);
  await c.close();
  assert.equal(await stopServer(server.proc), 0);

  const orders = await store.orders();
  const effectRows = await store.effects();
  assert.ok(orders.length > 60, `orders were committed (${orders.length})`);
  const byOrder = new Map<string, Set<string>>();
  for (const e of effectRows) {
    let s = byOrder.get(e.orderId);
    if (!s) byOrder.set(e.orderId, (s = new Set()));
    s.add(e.id);
  }
  const skipped = orders.filter((id) => !byOrder.has(id));
  assert.deepEqual(skipped.slice(0, 10), [], `${skipped.length} committed orders were never handled`);
  const twice = [...byOrder].filter(([, ids]) => ids.size > 1);
  assert.deepEqual(twice.slice(0, 5), [], 'no order has two different effects (the tx is derived from the event)');
  const redelivered = effectRows.length - orders.length;
  assert.ok(redelivered >= 0 && redelivered <= rounds, `at most one re-delivery per kill (got ${redelivered} extra effect events for ${rounds} kills)`);
  assert.ok(effectRows.every((e) => e.overlapped === false), 'one command at a time, across restarts too');
  console.log(`# reactions kill -9 (${store.env.MYKO_POSTGRES_URL ? 'PostgreSQL' : 'SQLite'}): ${orders.length} orders, ${rounds} kills, ${redelivered} re-delivered in-flight events`);
}
