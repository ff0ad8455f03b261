import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { SignJWT } from 'jose';
import { startTestServer, TestClient, tempDir, testPostgres, sleep, type TestServer } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import type { EventStore } from '../store/event-store.js';
import { staticRoute } from './static.js';
import { definePlugin, defineView } from '../core/registry.js';

const base = (ts: TestServer) => ts.url.replace(/^ws/, 'http').replace(/\/myko$/, '');
const lamp = (id: string, level: number) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, level } });

/** Read a Server-Sent Events stream; `until` sees each `data:` payload (and its event name) and ends the read by returning true. */
function readSse(url: string, until: (data: any, event: string) => boolean, timeoutMs = 3000): Promise<{ status: number; contentType: string; seen: any[] }> {
  return new Promise((resolve, reject) => {
    const seen: any[] = [];
    const req = request(url, (res: IncomingMessage) => {
      let buf = '';
      const t = setTimeout(() => (req.destroy(), reject(new Error(`timed out; saw ${JSON.stringify(seen).slice(0, 500)}`))), timeoutMs);
      if (res.statusCode !== 200) {
        clearTimeout(t);
        res.resume();
        return resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), seen });
      }
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data === undefined) continue;
          const parsed = JSON.parse(data);
          seen.push(parsed);
          if (until(parsed, event)) {
            clearTimeout(t);
            req.destroy();
            resolve({ status: 200, contentType: String(res.headers['content-type']), seen });
          }
        }
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

/** A raw HTTP GET: the path is sent exactly as given (fetch would normalise `..`). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metricsByName(text: string): Map<string, any> {
  return new Map((parsePrometheus(text) as any[]).map((m) => [m.name, m]));
}

test('/health: JSON with status, store reachability, position and connections; 200 when ready', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event', data: lamp('l1', 1) });
    await c.sync();
    const res = await fetch(`${base(ts)}/health`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as any;
    assert.equal(body.status, 'ok');
    assert.equal(body.ready, true);
    assert.equal(body.store.kind, 'sqlite');
    assert.equal(body.store.reachable, true);
    assert.equal(typeof body.store.ms, 'number');
    assert.ok(body.position >= 1);
    assert.equal(body.connections, 1);
    assert.equal(body.cluster, false);
    assert.equal(body.serverId, ts.server.serverId);
    assert.deepEqual(body.verify, { onBoot: false, running: false, last: null, boot: null });
    // /health is readiness, kept at its old path: /health/ready answers the same.
    const ready = await fetch(`${base(ts)}/health/ready`);
    assert.equal(ready.status, 200);
    const readyBody = (await ready.json()) as any;
    assert.equal(readyBody.status, 'ok');
    assert.equal(readyBody.store.reachable, true);
    // Liveness: the process answers, nothing about the store.
    const live = await fetch(`${base(ts)}/health/live`);
    assert.equal(live.status, 200);
    assert.equal(live.headers.get('content-type'), 'application/json');
    const liveBody = (await live.json()) as any;
    assert.equal(liveBody.status, 'live');
    assert.equal(liveBody.stopping, false);
    assert.equal(liveBody.serverId, ts.server.serverId);
    assert.equal(liveBody.store, undefined);
    // Neither path is taken by the dashboard's index.html fallback.
    assert.equal((await fetch(`${base(ts)}/health/other`)).status, 404);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('store down: /health and /health/ready answer 503 while /health/live stays 200 without probing it; all 200 again when it answers', async () => {
  const dataDir = tempDir();
  const inner = new SqliteEventStore({ dataDir, sync: 'normal' });
  let down = false;
  // A store without a SQLite handle or a pool: the probe falls back to lastPosition().
  const store: EventStore = {
    kind: 'flaky',
    gapless: true,
    serverId: inner.serverId,
    lastPosition: () => (down ? Promise.reject(new Error('disk gone')) : inner.lastPosition()),
    append: (e) => inner.append(e),
    readAfter: (a, l, o) => inner.readAfter(a, l, o),
    readRawAfter: (a, l) => inner.readRawAfter(a, l),
    readHistory: (t, id) => inner.readHistory(t, id),
    countHistory: (t, id, upTo) => inner.countHistory(t, id, upTo),
    loadCheckpoint: () => inner.loadCheckpoint(),
    saveCheckpoint: (d) => inner.saveCheckpoint(d),
    close: () => inner.close(),
  };
  const ts = await startTestServer({ store, dataDir });
  try {
    for (const path of ['/health', '/health/ready', '/health/live']) assert.equal((await fetch(`${base(ts)}${path}`)).status, 200, path);
    down = true;
    for (const path of ['/health', '/health/ready']) {
      const res = await fetch(`${base(ts)}${path}`);
      assert.equal(res.status, 503, path);
      const body = (await res.json()) as any;
      assert.equal(body.status, 'unready');
      assert.equal(body.ready, false);
      assert.equal(body.store.reachable, false);
      assert.match(body.store.error, /disk gone/);
    }
    // Liveness never asks the store: count the probes it would make.
    let probes = 0;
    const lastPosition = store.lastPosition;
    store.lastPosition = () => (probes++, lastPosition());
    const live = await fetch(`${base(ts)}/health/live`);
    assert.equal(live.status, 200);
    assert.equal(((await live.json()) as any).status, 'live');
    assert.equal(probes, 0, '/health/live did not probe the store');
    assert.equal((await fetch(`${base(ts)}/health/ready`)).status, 503);
    assert.equal(probes, 1, '/health/ready did');
    down = false;
    for (const path of ['/health', '/health/ready', '/health/live']) assert.equal((await fetch(`${base(ts)}${path}`)).status, 200, path);
  } finally {
    await ts.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

const lampLevels = definePlugin({
  name: 'lamp-levels',
  views: [defineView({ id: 'GetLampLevels', itemType: 'LampLevel', dependsOn: () => ['Lamp'], build: (_p, state) => [...state.all('Lamp')].map((l) => ({ id: l.id, level: l.level })) })],
});

test('/metrics: Prometheus text format with connections, events, live queries and views, diff and append latency, buffered bytes', async () => {
  const ts = await startTestServer({ plugins: [lampLevels] });
  try {
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:query', data: { queryId: 'GetAllLamps', queryItemType: 'Lamp', query: { tx: 'q' } } });
    await c.sync();
    c.send({ event: 'ws:m:event-batch', data: [lamp('a', 1), lamp('b', 2), lamp('c', 3)] });
    await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'q' && f.data.totalCount === 3);
    c.send({ event: 'ws:m:view', data: { viewId: 'GetLampLevels', view: { tx: 'v' } } });
    await c.next((f) => f.event === 'ws:m:view-response' && f.data.tx === 'v');
    c.send({ event: 'ws:m:view', data: { viewId: 'NoSuchView', view: { tx: 'v2' } } });
    await c.next((f) => f.event === 'ws:m:view-error' && f.data.tx === 'v2');
    const res = await fetch(`${base(ts)}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const m = metricsByName(text);
    for (const name of [
      'myko_connections',
      'myko_events_total',
      'myko_live_queries',
      'myko_live_views',
      'myko_live_reports',
      'myko_diff_latency_seconds',
      'myko_event_to_diff_seconds',
      'myko_store_append_seconds',
      'myko_send_buffered_bytes',
      'myko_send_buffered_bytes_max',
      'myko_log_position',
      'myko_items',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ])
      assert.ok(m.has(name), `${name} in /metrics`);
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(m.get(name).metrics.find((x: any) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v)).value);
    assert.equal(m.get('myko_events_total').type, 'COUNTER');
    assert.equal(value('myko_connections'), 1);
    assert.equal(value('myko_live_queries'), 1);
    assert.equal(value('myko_live_views'), 1, 'the live view, not the refused one');
    // 3 lamps + the Client item of this connection.
    assert.ok(value('myko_events_total', { kind: 'persisted' }) >= 4);
    assert.equal(value('myko_items', { item_type: 'Lamp' }), 3);
    assert.ok(value('myko_log_position') >= 4);
    assert.ok(value('myko_send_buffered_bytes') >= 0);
    const diff = m.get('myko_diff_latency_seconds');
    assert.equal(diff.type, 'HISTOGRAM');
    assert.ok(Number(diff.metrics[0].count) >= 1, 'the Lamp batch reached a live query');
    assert.ok(Number(diff.metrics[0].buckets['+Inf']) >= 1);
    // Accepted → diffs written spans the commit, so it is at least as long as that batch's diffing alone.
    const e2d = m.get('myko_event_to_diff_seconds');
    assert.equal(e2d.type, 'HISTOGRAM');
    assert.ok(Number(e2d.metrics[0].count) >= 1, 'the Lamp batch was timed from acceptance');
    assert.ok(Number(e2d.metrics[0].sum) >= Number(diff.metrics[0].sum) * 0.5);
    const append = m.get('myko_store_append_seconds');
    assert.ok(Number(append.metrics[0].count) >= 1);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('/api/history/ITEMTYPE/ID: the stored events of one item, oldest first, ids with slashes encoded', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event', data: lamp('room/1', 1) });
    c.send({ event: 'ws:m:event', data: lamp('room/1', 2) });
    c.send({ event: 'ws:m:event', data: { itemType: 'Lamp', changeType: 'DEL', item: { id: 'room/1' } } });
    c.send({ event: 'ws:m:event', data: lamp('other', 9) });
    await c.sync();
    const res = await fetch(`${base(ts)}/api/history/Lamp/${encodeURIComponent('room/1')}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.itemType, 'Lamp');
    assert.equal(body.id, 'room/1');
    assert.equal(body.current, null);
    assert.deepEqual(
      body.events.map((e: any) => [e.changeType, e.item.level]),
      [['SET', 1], ['SET', 2], ['DEL', undefined]],
    );
    assert.ok(body.events[0].position < body.events[1].position && body.events[1].position < body.events[2].position);
    assert.deepEqual(body.events[1].identity.pids, [body.events[0].identity._id]);
    const none = (await (await fetch(`${base(ts)}/api/history/Lamp/nope`)).json()) as any;
    assert.deepEqual(none.events, []);
    assert.equal((await fetch(`${base(ts)}/api/nothing-here`)).status, 404);
    assert.equal((await fetch(`${base(ts)}/api/history/Lamp/%E0%A4%A`)).status, 400);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('/api/items: a page sorted by any field over the whole set (first, middle and last pages, both directions), filtered by where; bad parameters 400', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    // 1,200 crates: weights with duplicates (ties go by id), a few missing, strings and booleans mixed in.
    const crates = Array.from({ length: 1200 }, (_, i) => {
      const item: Record<string, unknown> = { id: `c${String(i).padStart(4, '0')}`, zone: ['a', 'b', 'c'][i % 3] };
      if (i % 97 === 5) item.weight = i % 2 === 0 ? 'heavy' : true;
      else if (i % 89 !== 3) item.weight = (i * 37) % 500;
      return item;
    });
    for (let i = 0; i < crates.length; i += 200)
      c.send({ event: 'ws:m:event-batch', data: crates.slice(i, i + 200).map((item) => ({ itemType: 'Crate', changeType: 'SET', item })) });
    await c.sync();
    // The documented order, written out independently: numbers, strings, booleans, missing; ties by id.
    const rank = (v: unknown) => (typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : 4);
    const asc = [...crates].sort((x: any, y: any) => {
      const r = rank(x.weight) - rank(y.weight);
      if (r !== 0) return r;
      if (x.weight !== y.weight && rank(x.weight) !== 4) return x.weight < y.weight ? -1 : 1;
      return x.id < y.id ? -1 : 1;
    });
    const ids = (body: any) => body.items.map((it: any) => it.id);
    const get = async (q: string) => {
      const res = await fetch(`${base(ts)}/api/items/Crate?${q}`);
      assert.equal(res.status, 200, q);
      return (await res.json()) as any;
    };
    for (const offset of [0, 50, 575, 1150, 1190]) {
      const up = await get(`sort=weight&offset=${offset}&limit=50`);
      assert.equal(up.total, 1200);
      assert.deepEqual(ids(up), asc.slice(offset, offset + 50).map((x) => x.id), `asc at ${offset}`);
      const down = await get(`sort=weight&dir=desc&offset=${offset}&limit=50`);
      assert.deepEqual(ids(down), [...asc].reverse().slice(offset, offset + 50).map((x) => x.id), `desc at ${offset}`);
    }
    assert.equal((await get('sort=weight')).items[0].weight, 0);
    assert.equal((await get('sort=weight&dir=desc')).items[0].weight, undefined, 'missing sorts last, so first descending');
    assert.deepEqual(ids(await get('sort=id&dir=desc&limit=2')), ['c1199', 'c1198']);
    assert.deepEqual((await get('sort=weight&offset=1200')).items, []);
    // where: the equality filter of GetXsByQuery; total is the filtered size.
    const zoneB = await get(`sort=weight&limit=1000&where=${encodeURIComponent('{"zone":"b"}')}`);
    assert.equal(zoneB.total, 400);
    assert.deepEqual(ids(zoneB), asc.filter((x) => x.zone === 'b').map((x) => x.id).slice(0, 1000));
    // Up to date with the state: a write moves an item to the front.
    c.send({ event: 'ws:m:event', data: { itemType: 'Crate', changeType: 'SET', item: { id: 'c0999', zone: 'a', weight: -1 } } });
    await c.sync();
    assert.deepEqual(ids(await get('sort=weight&limit=1')), ['c0999']);
    for (const q of ['dir=up', 'limit=0', 'limit=1001', 'offset=-1', 'where=nope', 'where=[1]']) {
      const res = await fetch(`${base(ts)}/api/items/Crate?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(((await res.json()) as any).code, 'MYKO_BAD_REQUEST');
    }
    assert.equal((await (await fetch(`${base(ts)}/api/items/Nothing`)).json() as any).total, 0);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('/api/events streams committed events (filters by type); /api/stats sends item types and counts; /api/verify runs the verifier', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    const url = `${base(ts)}/api/events?exclude=Client`;
    const got = readSse(url, (d) => d.itemType === 'Lamp' && d.id === 'x2');
    await sleep(100);
    c.send({ event: 'ws:m:event-batch', data: [lamp('x1', 1), lamp('x2', 2)] });
    const { status, contentType, seen } = await got;
    assert.equal(status, 200);
    assert.match(contentType, /^text\/event-stream/);
    assert.deepEqual(
      seen.map((e) => [e.itemType, e.changeType, e.id, e.item.level]),
      [['Lamp', 'SET', 'x1', 1], ['Lamp', 'SET', 'x2', 2]],
    );
    assert.ok(seen[0].position > 0 && seen[1].position === seen[0].position + 1);
    assert.equal(seen[0].clientId, c.clientId);

    const stats = await readSse(`${base(ts)}/api/stats`, () => true);
    const s = stats.seen[0];
    assert.equal(s.store, 'sqlite');
    assert.equal(s.connections, 1);
    assert.ok(s.eventsTotal >= 0);
    assert.deepEqual(
      s.itemTypes.filter((t: any) => t.name === 'Lamp' || t.name === 'Client'),
      [{ name: 'Client', count: 1, persisted: true }, { name: 'Lamp', count: 2, persisted: true }],
    );

    assert.equal((await fetch(`${base(ts)}/api/verify`)).status, 405);
    const v = (await (await fetch(`${base(ts)}/api/verify`, { method: 'POST' })).json()) as any;
    assert.equal(v.ok, true);
    assert.ok(v.checked >= 3);
    const h = (await (await fetch(`${base(ts)}/health`)).json()) as any;
    assert.equal(h.verify.last.ok, true);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('the event stream drops (and reports) what a subscriber cannot take instead of holding it', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    const got = readSse(`${base(ts)}/api/events?types=Lamp`, (_d, event) => event === 'dropped', 5000);
    await sleep(100);
    c.send({ event: 'ws:m:event-batch', data: Array.from({ length: 1500 }, (_, i) => lamp(`n${i}`, i)) });
    const { seen } = await got;
    assert.equal(seen.length, 1001);
    assert.deepEqual(seen.at(-1), { dropped: 500 });
    await c.close();
  } finally {
    await ts.close();
  }
});

test('static files: content types, index.html fallback for app routes, 404 for missing files, no way out of the root', async () => {
  const dir = tempDir();
  const root = join(dir, 'www');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(root, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'app-1234.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'SECRET');
  const route = staticRoute(root);
  const http = createServer((req, res) => {
    if (!route(req, res, new URL(req.url ?? '/', 'http://localhost'))) res.writeHead(404).end('unrouted');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  try {
    const index = await rawGet(port, '/');
    assert.equal(index.status, 200);
    assert.equal(index.type, 'text/html; charset=utf-8');
    assert.match(index.body, /<title>app/);
    assert.equal((await rawGet(port, '/assets/app-1234.js')).type, 'text/javascript; charset=utf-8');
    assert.equal((await rawGet(port, '/assets/app-1234.css')).type, 'text/css; charset=utf-8');
    const appRoute = await rawGet(port, '/rship/targets');
    assert.equal(appRoute.status, 200);
    assert.match(appRoute.body, /<title>app/);
    assert.equal((await rawGet(port, '/assets/missing.js')).status, 404);
    // Not for the dashboard: left to the other routes.
    assert.equal((await rawGet(port, '/api/anything')).body, 'unrouted');
    assert.equal((await rawGet(port, '/metrics')).body, 'unrouted');
    for (const evil of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e%5csecret.txt', '/assets%2f..%2f..%2fsecret.txt', '/secret.txt%00.js', '//secret.txt']) {
      const r = await rawGet(port, evil);
      assert.doesNotMatch(r.body, /SECRET/, evil);
      assert.ok([400, 404].includes(r.status) || /<title>app/.test(r.body), `${evil}: ${r.status}`);
    }
  } finally {
    http.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with authentication on, /api needs a token (query or Bearer); /health and /metrics stay open for probes', async () => {
  const secret = 'an-ops-test-secret-that-is-long-enough!!';
  const ts = await startTestServer({ config: { authJwtSecret: secret } });
  try {
    const token = await new SignJWT({ sub: 'ops' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const none = await fetch(`${base(ts)}/api/history/Lamp/x`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as any).code, 'MYKO_UNAUTHORIZED');
    assert.equal((await fetch(`${base(ts)}/api/history/Lamp/x?access_token=not-a-jwt`)).status, 401);
    assert.equal((await fetch(`${base(ts)}/api/history/Lamp/x?access_token=${token}`)).status, 200);
    assert.equal((await fetch(`${base(ts)}/api/history/Lamp/x`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const h = (await (await fetch(`${base(ts)}/health`)).json()) as any;
    assert.equal(h.auth, true);
    assert.equal((await fetch(`${base(ts)}/metrics`)).status, 200);
  } finally {
    await ts.close();
  }
});

test('cluster member (PostgreSQL): /health probes PostgreSQL, /metrics and the event stream work the same', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const ts = await startTestServer({ config: { postgresUrl: db.url, postgresSchema: db.schema } });
  try {
    const h = (await (await fetch(`${base(ts)}/health`)).json()) as any;
    assert.equal(h.status, 'ok');
    assert.equal(h.store.kind, 'postgres');
    assert.equal(h.store.reachable, true);
    assert.equal(h.cluster, true);
    const c = await TestClient.connect(ts.url);
    const got = readSse(`${base(ts)}/api/events?types=Lamp`, (d) => d.id === 'pg1', 5000);
    await sleep(100);
    c.send({ event: 'ws:m:event', data: lamp('pg1', 1) });
    const { seen } = await got;
    assert.equal(seen[0].itemType, 'Lamp');
    const m = metricsByName(await (await fetch(`${base(ts)}/metrics`)).text());
    assert.ok(Number(m.get('myko_store_append_seconds').metrics[0].count) >= 1);
    assert.ok(Number(m.get('myko_events_total').metrics.find((x: any) => x.labels.kind === 'persisted').value) >= 1);
    const hist = (await (await fetch(`${base(ts)}/api/history/Lamp/pg1`)).json()) as any;
    assert.equal(hist.events.length, 1);
    await c.close();
  } finally {
    await ts.close();
    await db.drop();
  }
});
