/**
 * Durability of the embedded store, end to end: real server processes, real
 * SQLite files, clean stops and kill -9. What is checked is what a client can
 * rely on: whatever it has seen survives, the log keeps its order, a batch is
 * all or nothing, and boot rebuilds exactly the state the log describes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  exited,
  sleep,
  spawnServer,
  startTestServer,
  tempDir,
  TestClient,
  type AnyFrame,
  type TestServer,
} from '../../testing/index.js';
import { MykoServer } from '../../server.js';
import { SqliteEventStore } from './index.js';
import { LOG_HEAD_ROW } from './append.js';
import { verifyLog } from '../../log/verify.js';

type Row = { id: number; item_type: string; item_id: string; change_type: string; tx: string; event: string };

function readLog(dataDir: string): Row[] {
  const db = new Database(join(dataDir, 'myko.db'));
  try {
    return db.prepare(`SELECT id, item_type, item_id, change_type, tx, event FROM myko_events ORDER BY id`).all() as Row[];
  } finally {
    db.close();
  }
}

/** The log head append records (append.ts: a row of sqlite_sequence). */
function readHead(dataDir: string): string | undefined {
  const db = new Database(join(dataDir, 'myko.db'));
  try {
    return db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = ?`).pluck().get(LOG_HEAD_ROW) as string | undefined;
  } finally {
    db.close();
  }
}

function readMeta(dataDir: string, key: string): string | undefined {
  const db = new Database(join(dataDir, 'myko.db'));
  try {
    return (db.prepare(`SELECT value FROM myko_meta WHERE key = ?`).get(key) as { value: string } | undefined)?.value;
  } finally {
    db.close();
  }
}

/** State as the log describes it: SET replaces the item, DEL removes it, in log order. */
function replay(rows: Row[]): Map<string, unknown> {
  const state = new Map<string, unknown>();
  for (const r of rows) {
    const key = `${r.item_type}/${r.item_id}`;
    if (r.change_type === 'DEL') state.delete(key);
    else state.set(key, (JSON.parse(r.event) as { item: unknown }).item);
  }
  return state;
}

function stateOf(server: MykoServer): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const t of server.state.itemTypes()) for (const item of server.state.all(t)) out.set(`${t}/${item.id}`, item);
  return out;
}

const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

async function health(port: number): Promise<{ status: string; position: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(res.headers.get('content-type'), 'application/json');
  return (await res.json()) as { status: string; position: number };
}

async function queryAll(c: TestClient, itemType: string): Promise<Map<string, unknown>> {
  const tx = `all-${itemType}-${Math.random().toString(36).slice(2)}`;
  c.send({ event: 'ws:m:query', data: { queryId: `GetAll${itemType}s`, queryItemType: itemType, query: { tx } } });
  const r = await c.next((f) => f.event === 'ws:m:query-response' && f.data?.tx === tx, 5000);
  c.send({ event: 'ws:m:query-cancel', data: { tx } });
  return new Map(r.data.upserts.map((u: any) => [u.item.id, u.item]));
}

/**
 * Event n of a deterministic stream over `ids` items: mostly SETs that
 * overwrite, some DELs, so the final state depends on the order.
 */
function streamEvent(itemType: string, n: number, ids: number, prefix = '') {
  const id = `${prefix}${itemType.toLowerCase()}${n % ids}`;
  return n % 7 === 6
    ? { itemType, changeType: 'DEL', item: { id }, tx: `${prefix}e-${n}` }
    : { itemType, changeType: 'SET', item: { id, n, label: `v${n}`, tags: [n % 3, { deep: n % 5 }] }, tx: `${prefix}e-${n}` };
}

async function writeStream(c: TestClient, itemType: string, from: number, to: number, batch: number, ids: number, prefix = '') {
  for (let n = from; n < to; n += batch) {
    const events = [];
    for (let k = n; k < Math.min(to, n + batch); k++) events.push(streamEvent(itemType, k, ids, prefix));
    c.send({ event: 'ws:m:event-batch', data: events });
  }
}

test('restart: 1000 events, a clean stop, a new start on the same directory → the same state and the log in order', async () => {
  const dataDir = tempDir('myko-durable-a-');
  try {
    let ts = await startTestServer({ dataDir });
    const c = await TestClient.connect(ts.url);
    await ts.server.writer.idle();
    const p0 = (await health(ts.server.port)).position;
    await writeStream(c, 'Gauge', 0, 1000, 40, 300);
    // Committed = the health position has moved past all of them.
    const deadline = Date.now() + 10_000;
    let h = await health(ts.server.port);
    while (h.position < p0 + 1000 && Date.now() < deadline) {
      await sleep(20);
      h = await health(ts.server.port);
    }
    assert.equal(h.status, 'ok');
    assert.equal(h.position, p0 + 1000);
    const before = await queryAll(c, 'Gauge');
    assert.ok(before.size > 200 && before.size < 300, `overwrites and deletes leave ${before.size} of 300`);
    await c.close();
    await ts.close();

    ts = await startTestServer({ dataDir });
    const c2 = await TestClient.connect(ts.url);
    const after = await queryAll(c2, 'Gauge');
    assert.deepEqual(sorted(after), sorted(before), 'the same items, hashes included, after the restart');
    await c2.close();
    await ts.close();

    const rows = readLog(dataDir).filter((r) => r.item_type === 'Gauge');
    assert.equal(rows.length, 1000);
    assert.deepEqual(
      rows.map((r) => r.tx),
      Array.from({ length: 1000 }, (_, n) => `e-${n}`),
      'the log holds the events in the order they were sent',
    );
    assert.deepEqual(sorted(replay(rows)), sorted(new Map([...before].map(([id, item]) => [`Gauge/${id}`, item]))));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('kill -9 mid-stream, three times: every event a watcher saw survives, in order; each batch is all or nothing', async () => {
  const dataDir = tempDir('myko-durable-b-');
  const B = 25; // events per batch
  const rounds: { base: number; seen: number; sent: number }[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      const child = await spawnServer({ dataDir });
      const watcher = await TestClient.connect(child.url);
      const writer = await TestClient.connect(child.url);
      watcher.ws.on('error', () => undefined);
      writer.ws.on('error', () => undefined);
      let seen = -1;
      const counts: number[] = [];
      watcher.ws.on('message', (raw: Buffer) => {
        const f = JSON.parse(raw.toString()) as AnyFrame;
        if (f.event === 'ws:m:report-response' && f.data?.tx === 'count') {
          counts.push(f.data.response);
          seen = Math.max(seen, f.data.response);
        }
      });
      watcher.send({ event: 'ws:m:report', data: { reportId: 'GetTicksCount', report: { tx: 'count' } } });
      await watcher.next((f) => f.event === 'ws:m:report-response' && f.data?.tx === 'count');
      const base = counts[0]!;
      // After a restart the server holds at least everything the watcher saw before the kill.
      if (round > 0) assert.ok(base >= rounds[round - 1]!.seen, `round ${round}: ${base} after restart < ${rounds[round - 1]!.seen} seen before the kill`);

      let sent = 0;
      let running = true;
      const pump = (async () => {
        while (running) {
          if (writer.ws.readyState !== writer.ws.OPEN) break;
          if (writer.ws.bufferedAmount < 64 * 1024) {
            const events = Array.from({ length: B }, (_, j) => ({
              itemType: 'Tick',
              changeType: 'SET',
              item: { id: `r${round}-b${sent}-e${j}`, round, batch: sent, j },
            }));
            writer.send({ event: 'ws:m:event-batch', data: events });
            sent++;
          }
          await sleep(1);
        }
      })();
      // Let some batches be committed and seen, then kill at an arbitrary moment while writing.
      const deadline = Date.now() + 8000;
      while (seen - base < 10 * B && Date.now() < deadline) await sleep(5);
      assert.ok(seen - base >= 10 * B, `round ${round}: the watcher saw batches being committed`);
      await sleep(Math.floor(Math.random() * 60));
      child.proc.kill('SIGKILL');
      await exited(child.proc);
      running = false;
      await pump;
      // Closed: every frame the dead server managed to send has been read, so `seen` is final.
      await Promise.all([watcher.closed, writer.closed]);
      rounds.push({ base, seen, sent });
    }

    // A last restart: its count covers what was seen, and a clean stop.
    const child = await spawnServer({ dataDir });
    const c = await TestClient.connect(child.url);
    c.send({ event: 'ws:m:report', data: { reportId: 'GetTicksCount', report: { tx: 'final' } } });
    const final = (await c.next((f) => f.event === 'ws:m:report-response' && f.data?.tx === 'final')).data.response as number;
    assert.ok(final >= rounds[2]!.seen);
    child.proc.kill('SIGTERM');
    assert.equal(await exited(child.proc), 0);

    const rows = readLog(dataDir).filter((r) => r.item_type === 'Tick');
    assert.equal(rows.length, final, 'the count the server reports is what the log holds');
    const ticks = rows.map((r) => JSON.parse(r.event).item as { round: number; batch: number; j: number });
    // In order: (round, batch, j) strictly increasing along the log.
    for (let i = 1; i < ticks.length; i++) {
      const a = ticks[i - 1]!;
      const b = ticks[i]!;
      const inOrder = a.round < b.round || (a.round === b.round && (a.batch < b.batch || (a.batch === b.batch && a.j < b.j)));
      assert.ok(inOrder, `log order broken at row ${i}: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
    }
    for (let round = 0; round < 3; round++) {
      const perBatch = new Map<number, number>();
      for (const t of ticks) if (t.round === round) perBatch.set(t.batch, (perBatch.get(t.batch) ?? 0) + 1);
      for (const [batch, n] of perBatch) assert.equal(n, B, `round ${round} batch ${batch}: ${n} of ${B} events stored`);
      const stored = perBatch.size;
      // The writer's batches are committed in order, so what survived is a prefix of what was sent.
      assert.deepEqual([...perBatch.keys()].sort((x, y) => x - y), Array.from({ length: stored }, (_, i) => i), `round ${round}: a prefix`);
      const r = rounds[round]!;
      const seenBatches = (r.seen - r.base) / B;
      assert.ok(Number.isInteger(seenBatches), `round ${round}: the watcher only ever saw whole batches`);
      assert.ok(stored >= seenBatches, `round ${round}: ${stored} batches stored, ${seenBatches} seen`);
      assert.ok(stored <= r.sent);
      // The next start counted exactly what was stored.
      const nextBase = round < 2 ? rounds[round + 1]!.base : final;
      assert.equal(nextBase - r.base, stored * B, `round ${round}: the restart's count is the log's`);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('checkpoint + tail: boot after kill -9 equals a replay of the whole log, and replays only the tail', async () => {
  const dataDir = tempDir('myko-durable-c-');
  try {
    const ts = await startTestServer({ dataDir, config: { checkpointEvery: 100 } });
    const c = await TestClient.connect(ts.url);
    await writeStream(c, 'Fader', 0, 1000, 50, 200);
    await c.sync(); // answered once this connection's events are committed
    assert.equal(c.all('ws:m:error').length, 0);
    await c.close();
    await ts.close(); // writes the final checkpoint
    const p1 = ts.server.writer.position;
    assert.ok(p1 >= 1000);
    assert.equal(readMeta(dataDir, 'checkpoint_position'), String(p1), 'a clean stop leaves a checkpoint at the end of the log');

    // The tail: a child process changes checkpointed items (overwrite, delete) and adds new ones, then dies.
    const child = await spawnServer({ dataDir });
    const w = await TestClient.connect(child.url);
    w.ws.on('error', () => undefined);
    const tail = [
      ...Array.from({ length: 50 }, (_, i) => ({ itemType: 'Fader', changeType: 'SET', item: { id: `fader${i}`, n: -i, label: 'tail' } })),
      ...Array.from({ length: 50 }, (_, i) => ({ itemType: 'Fader', changeType: 'DEL', item: { id: `fader${50 + i}` } })),
      ...Array.from({ length: 50 }, (_, i) => ({ itemType: 'Knob', changeType: 'SET', item: { id: `knob${i}`, v: i } })),
    ];
    for (let i = 0; i < tail.length; i += 30) w.send({ event: 'ws:m:event-batch', data: tail.slice(i, i + 30) });
    await w.sync();
    child.proc.kill('SIGKILL');
    await exited(child.proc);
    await w.closed;

    const logAtKill = readLog(dataDir);
    const last = logAtKill[logAtKill.length - 1]!.id;
    assert.ok(last - p1 >= tail.length, 'the tail is in the log');
    assert.equal(readMeta(dataDir, 'checkpoint_position'), String(p1), 'the child took no checkpoint of its own');

    // The tail is past the checkpoint, so only the head that every append records can show that its last
    // events were deleted: the log as the kill left it verifies, a copy without its last 2 events does not.
    assert.equal(readHead(dataDir)?.split(' ')[0], String(last), 'the head is the last committed event');
    const cut = tempDir('myko-durable-cut-');
    try {
      cpSync(dataDir, cut, { recursive: true });
      const db = new Database(join(cut, 'myko.db'));
      db.prepare('DELETE FROM myko_events WHERE id > ?').run(last - 2);
      db.close();
      for (const [dir, ok] of [[dataDir, true], [cut, false]] as const) {
        const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
        const r = await verifyLog(store).finally(() => store.close());
        assert.equal(r.ok, ok, dir);
        if (!ok) {
          assert.equal(r.failure!.position, last - 1);
          assert.match(r.failure!.reason, new RegExp(`recorded appending up to position ${last} .*the last 2 events are missing`));
        }
      }
    } finally {
      rmSync(cut, { recursive: true, force: true });
    }

    const ts2 = await startTestServer({ dataDir, config: { checkpointEvery: 100 } });
    let booted: Map<string, unknown>;
    try {
      assert.equal(ts2.server.bootStats.checkpointPosition, p1, 'boot started from the checkpoint');
      assert.equal(ts2.server.bootStats.replayed, last - p1, 'and replayed only the events after it');
      booted = stateOf(ts2.server);
      // The tail's effects are there.
      assert.deepEqual(ts2.server.state.get('Fader', 'fader3')?.label, 'tail');
      assert.equal(ts2.server.state.get('Fader', 'fader60'), undefined);
      assert.equal(ts2.server.state.count('Knob'), 50);
      const q = await TestClient.connect(ts2.url);
      const knobs = await queryAll(q, 'Knob');
      assert.equal(knobs.size, 50);
      await q.close();
    } finally {
      await ts2.close();
    }
    // Compare with the whole log, replayed here from the rows. Client and Server items say who is connected and
    // running, not the data: the boot reaped the child's clients, and the server's own item went at its stop.
    const expected = replay(readLog(dataDir));
    const withoutClients = (m: Map<string, unknown>) => new Map([...m].filter(([k]) => !k.startsWith('Client/') && !k.startsWith('Server/')));
    assert.deepEqual(sorted(withoutClients(booted)), sorted(withoutClients(expected)));
    assert.equal([...expected.keys()].filter((k) => k.startsWith('Client/')).length, 0, 'no Client item outlives its connection');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a second server on the same data directory fails to start, saying it is in use', async () => {
  const dataDir = tempDir('myko-durable-d-');
  try {
    const ts = await startTestServer({ dataDir });
    try {
      await assert.rejects(
        MykoServer.start({ config: { dataDir, port: 0, host: '127.0.0.1', logLevel: 'silent' } }),
        (err: Error) => /in use/.test(err.message) && err.message.includes(dataDir),
      );
      // As a process, through the CLI: it exits with the message.
      await assert.rejects(spawnServer({ dataDir }), (err: Error) => /exited with 1/.test(err.message) && /in use/.test(err.message));
      // The first server is unaffected.
      const c = await TestClient.connect(ts.url);
      c.send({ event: 'ws:m:event', data: { itemType: 'Probe', changeType: 'SET', item: { id: 'p' } } });
      const all = await queryAll(c, 'Probe');
      assert.deepEqual([...all.keys()], ['p']);
      await c.close();
    } finally {
      await ts.close();
    }
    // Once it has stopped, the directory can be opened again.
    const again = await startTestServer({ dataDir });
    assert.equal(again.server.state.get('Probe', 'p')?.id, 'p');
    await again.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('DEL then restart: the item stays deleted (through a checkpoint, and through a kill -9 replay)', async () => {
  const dataDir = tempDir('myko-durable-e-');
  const set = (id: string) => ({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'SET', item: { id, label: id } } });
  const del = (id: string) => ({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id } } });
  const start = async (): Promise<[TestServer, TestClient]> => {
    const ts = await startTestServer({ dataDir });
    return [ts, await TestClient.connect(ts.url)];
  };
  try {
    let [ts, c] = await start();
    for (const id of ['a', 'b', 'c']) c.send(set(id));
    assert.deepEqual([...(await queryAll(c, 'Cue')).keys()].sort(), ['a', 'b', 'c']);
    await c.close();
    await ts.close(); // checkpoint holds a, b, c

    [ts, c] = await start();
    c.send(del('a'));
    assert.deepEqual([...(await queryAll(c, 'Cue')).keys()].sort(), ['b', 'c']);
    await c.close();
    await ts.close(); // checkpoint drops a

    [ts, c] = await start();
    assert.deepEqual([...(await queryAll(c, 'Cue')).keys()].sort(), ['b', 'c'], 'a stays deleted after a clean restart');
    await c.close();
    await ts.close();

    // DEL in a process that then dies: no checkpoint has it, the replay must.
    const child = await spawnServer({ dataDir });
    const w = await TestClient.connect(child.url);
    w.ws.on('error', () => undefined);
    w.send(del('b'));
    await w.sync();
    child.proc.kill('SIGKILL');
    await exited(child.proc);

    [ts, c] = await start();
    assert.deepEqual([...(await queryAll(c, 'Cue')).keys()], ['c'], 'b stays deleted after kill -9 and replay');
    assert.equal(ts.server.state.get('Cue', 'a'), undefined);
    await c.close();
    await ts.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
