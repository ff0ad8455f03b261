import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startTestServer, tempDir, TestClient } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { verifyLog } from './verify.js';

const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
const myko = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** A data directory with a known log: 3 lamps changed a few times, one deleted. */
async function seededDir(): Promise<string> {
  const dataDir = tempDir();
  const ts = await startTestServer({ dataDir });
  const c = await TestClient.connect(ts.url);
  for (let round = 0; round < 4; round++)
    c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, level: round } })) });
  c.send({ event: 'ws:m:event', data: { itemType: 'Lamp', changeType: 'DEL', item: { id: 'b' } } });
  await c.sync();
  await c.close();
  await ts.close();
  return dataDir;
}

async function verifyDir(dir: string) {
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  try {
    return await verifyLog(store);
  } finally {
    await store.close();
  }
}

function tampered(dir: string, edit: (db: Database.Database) => void): string {
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  const db = new Database(join(copy, 'myko.db'));
  edit(db);
  db.close();
  return copy;
}

const lampRows = (db: Database.Database) =>
  db.prepare(`SELECT id, event FROM myko_events WHERE item_type = 'Lamp' ORDER BY id`).all() as { id: number; event: string }[];

test('verify passes an intact log and names the exact event for each kind of tampering', async () => {
  const dir = await seededDir();
  const dirs = [dir];
  try {
    const ok = await verifyDir(dir);
    assert.equal(ok.ok, true);
    assert.ok(ok.checked >= 14);
    assert.equal(myko('verify', '--data-dir', dir).status, 0);

    // One byte of one stored event.
    let target = 0;
    const flipped = tampered(dir, (db) => {
      const row = lampRows(db)[4]!;
      target = row.id;
      db.prepare('UPDATE myko_events SET event = ? WHERE id = ?').run(row.event.replace('"level":1', '"level":7'), row.id);
    });
    dirs.push(flipped);
    let r = await verifyDir(flipped);
    assert.equal(r.ok, false);
    assert.equal(r.failure!.position, target);
    assert.match(r.failure!.reason, /dHash/);
    const out = myko('verify', '--data-dir', flipped);
    assert.equal(out.status, 1);
    assert.match(out.stdout, new RegExp(`MISMATCH at position ${target}\\b`));

    // A dropped event: the next one is named.
    let dropped = 0;
    const gap = tampered(dir, (db) => {
      dropped = lampRows(db)[5]!.id;
      db.prepare('DELETE FROM myko_events WHERE id = ?').run(dropped);
    });
    dirs.push(gap);
    r = await verifyDir(gap);
    assert.equal(r.failure!.position, dropped + 1);
    assert.match(r.failure!.reason, /missing/);

    // Two events swapped (of different items): the first out-of-place one is named.
    let first = 0;
    const swapped = tampered(dir, (db) => {
      const rows = db.prepare(`SELECT id, item_type, item_id, change_type, created_at, tx, source_id, event FROM myko_events WHERE item_type = 'Lamp' ORDER BY id`).all() as any[];
      const [x, y] = [rows[3], rows[7]];
      first = x.id;
      const put = db.prepare('UPDATE myko_events SET item_type=?, item_id=?, change_type=?, created_at=?, tx=?, source_id=?, event=? WHERE id=?');
      put.run(y.item_type, y.item_id, y.change_type, y.created_at, y.tx, y.source_id, y.event, x.id);
      put.run(x.item_type, x.item_id, x.change_type, x.created_at, x.tx, x.source_id, x.event, y.id);
    });
    dirs.push(swapped);
    r = await verifyDir(swapped);
    assert.equal(r.failure!.position, first);
    assert.match(r.failure!.reason, /out of order|chain/);

    // Bytes that break the JSON itself.
    let broken = 0;
    const garbled = tampered(dir, (db) => {
      broken = lampRows(db)[2]!.id;
      db.prepare(`UPDATE myko_events SET event = substr(event, 1, 40) WHERE id = ?`).run(broken);
    });
    dirs.push(garbled);
    r = await verifyDir(garbled);
    assert.equal(r.failure!.position, broken);
    assert.match(r.failure!.reason, /not valid JSON/);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('restore points: watchers see the restore as ordinary diffs; history is only appended to', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    const cmd = (tx: string, commandId: string, p: object) => c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...p } } });
    c.send({ event: 'ws:m:event-batch', data: ['q1', 'q2', 'q3'].map((id) => ({ itemType: 'Cue', changeType: 'SET', item: { id, label: `cue ${id}` } })) });
    cmd('rp', 'CreateRestorePoint', { name: 'before the show' });
    const point = (await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'rp')).data.response;
    assert.equal(point.name, 'before the show');

    // The bad cue: one changed, one deleted, one added.
    c.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'WRONG' } },
      { itemType: 'Cue', changeType: 'DEL', item: { id: 'q2' } },
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q9', label: 'stray' } },
    ] });
    const watcher = await TestClient.connect(ts.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'w' } } });
    await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 0);
    const positionBefore = ts.server.writer.position;

    cmd('restore', 'RestoreToPoint', { id: point.id });
    const res = (await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === 'restore')).data.response;
    assert.deepEqual([res.set, res.deleted], [2, 1]);
    const diff = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.sequence === 1);
    assert.deepEqual(diff.data.deletes, ['q9']);
    assert.deepEqual(diff.data.upserts.map((u: any) => [u.item.id, u.item.label]).sort(), [['q1', 'cue q1'], ['q2', 'cue q2']]);
    assert.ok(ts.server.writer.position > positionBefore, 'the restore appended events');
    assert.deepEqual([...ts.server.state.all('Cue')].map((x) => x.id).sort(), ['q1', 'q2', 'q3']);

    c.send({ event: 'ws:m:command', data: { commandId: 'RestoreToPoint', command: { tx: 'nope', id: 'missing' } } });
    assert.match((await c.next((f) => f.event === 'ws:m:command-error' && f.data.tx === 'nope')).data.message, /unknown restore point/);

    // Historic reads: the query and the report as of the restore point's position.
    c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'h', asOf: { position: point.position } } } });
    const then = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'h');
    assert.deepEqual(then.data.upserts.map((u: any) => u.item.label).sort(), ['cue q1', 'cue q2', 'cue q3']);
    c.send({ event: 'ws:m:report', data: { reportId: 'GetCuesCount', report: { tx: 'hr', asOf: { position: positionBefore } } } });
    assert.equal((await c.next((f) => f.event === 'ws:m:report-response' && f.data.tx === 'hr')).data.response, 3);
    c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'bad', asOf: { position: -1 } } } });
    assert.match((await c.next((f) => f.event === 'ws:m:query-error' && f.data.tx === 'bad')).data.message, /asOf/);
    await c.close();
    await watcher.close();
  } finally {
    await ts.close();
  }
});

test('export → import → verify gives the same state; history lists an item\'s events', async () => {
  const dir = await seededDir();
  const copy = tempDir();
  const file = join(copy, 'log.ndjson');
  const target = join(copy, 'imported');
  try {
    assert.equal(myko('export', '--data-dir', dir, '--out', file).status, 0);
    const imp = myko('import', '--in', file, '--data-dir', target);
    assert.equal(imp.status, 0, imp.stdout + imp.stderr);
    assert.match(imp.stdout, /imported \d+ events[\s\S]*ok: \d+ events verified/);
    assert.equal(myko('import', '--in', file, '--data-dir', target).status, 1, 'import refuses a store that has events');

    const a = await startTestServer({ dataDir: dir });
    const aLamps = [...a.server.state.all('Lamp')];
    await a.close();
    const b = await startTestServer({ dataDir: target });
    assert.deepEqual([...b.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)), aLamps.sort((x, y) => (x.id < y.id ? -1 : 1)));
    await b.close();

    const hist = myko('history', 'Lamp', 'b', '--data-dir', dir);
    assert.equal(hist.status, 0);
    const lines = hist.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.deepEqual(lines.map((l) => l.split('\t')[2]), ['SET', 'SET', 'SET', 'SET', 'DEL']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
  }
});

test('a checkpoint that does not match the event at its position is ignored; verify-on-boot refuses a damaged log', async () => {
  const dir = await seededDir();
  const dirs = [dir];
  try {
    const expected = await startTestServer({ dataDir: dir });
    const lamps = [...expected.server.state.all('Lamp')];
    await expected.close();
    const lying = tampered(dir, (db) => {
      db.prepare(`UPDATE myko_meta SET value = 'not-the-event' WHERE key = 'checkpoint_event_id'`).run();
      db.prepare(`UPDATE myko_state SET item = '{"id":"a","level":999}' WHERE item_id = 'a'`).run();
    });
    dirs.push(lying);
    const ts = await startTestServer({ dataDir: lying });
    assert.equal(ts.server.bootStats.checkpointPosition, 0, 'the checkpoint was discarded');
    assert.deepEqual([...ts.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)), lamps.sort((x, y) => (x.id < y.id ? -1 : 1)));
    await ts.close();

    const damaged = tampered(dir, (db) => {
      const row = lampRows(db)[1]!;
      db.prepare('UPDATE myko_events SET event = ? WHERE id = ?').run(row.event.replace('"level":0', '"level":5'), row.id);
    });
    dirs.push(damaged);
    await assert.rejects(startTestServer({ dataDir: damaged, config: { verifyOnBoot: true } }), /log verification failed at position \d+/);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('a boot that replays a tail, then a clean stop, then a boot: nothing of the tail is lost', async () => {
  const { spawnServer, exited } = await import('../testing/index.js');
  const dataDir = tempDir();
  try {
    // A checkpoint at P1 (clean stop), then more events and a kill -9: the next boot replays the tail.
    let ts = await startTestServer({ dataDir });
    let c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event-batch', data: ['a', 'b'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, v: 1 } })) });
    await c.sync();
    await c.close();
    await ts.close();
    const child = await spawnServer({ dataDir });
    c = await TestClient.connect(child.url);
    c.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'a', v: 2 } },
      { itemType: 'Lamp', changeType: 'SET', item: { id: 'c', v: 1 } },
      { itemType: 'Lamp', changeType: 'DEL', item: { id: 'b' } },
    ] });
    await c.sync();
    child.proc.kill('SIGKILL');
    await exited(child.proc);
    ts = await startTestServer({ dataDir });
    assert.ok(ts.server.bootStats.replayed > 0, 'the tail was replayed');
    const expected = [...ts.server.state.all('Lamp')].map((x) => [x.id, x.v]).sort();
    assert.deepEqual(expected, [['a', 2], ['c', 1]]);
    await ts.close(); // clean stop: a checkpoint at the end of the log
    ts = await startTestServer({ dataDir });
    try {
      assert.equal(ts.server.bootStats.replayed, 0);
      assert.deepEqual([...ts.server.state.all('Lamp')].map((x) => [x.id, x.v]).sort(), expected);
    } finally {
      await ts.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
