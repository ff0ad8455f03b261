import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { editSnapshot, startTestServer, tamperedCopy, tempDir, TestClient } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { verifyLog } from './verify.js';

const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
// MYKO_PROGRESS unset: progress is drawn only on a terminal, so these runs print none.
const { MYKO_PROGRESS: _progress, ...env } = process.env;
const myko = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000 });
const mykoWith = (extra: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...env, ...extra }, timeout: 120_000 });

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

/**
 * Verified on this thread, on two workers sent the rows in batches of 3, and as `myko verify` runs
 * (the store under a write lock, two workers reading their own ranges of 3 and a third the snapshot,
 * log/verify-pool.ts): all must find the same.
 */
async function verifyDir(dir: string) {
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  let here;
  try {
    here = await verifyLog(store, { threads: 0 });
    const workers = await verifyLog(store, { threads: 2, chunk: 3 });
    assert.deepEqual({ ...workers, ms: 0 }, { ...here, ms: 0 });
  } finally {
    await store.close();
  }
  const shared = new SqliteEventStore({ dataDir: dir, sync: 'normal', lock: 'write' });
  try {
    assert.ok(shared.readableFile(), 'the workers read the file themselves');
    const reading = await verifyLog(shared, { threads: 2, chunk: 3 });
    assert.deepEqual({ ...reading, ms: 0 }, { ...here, ms: 0 });
  } finally {
    await shared.close();
  }
  return here;
}

function readCheckpointPosition(dir: string): string | undefined {
  const db = new Database(join(dir, 'myko.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT value FROM myko_meta WHERE key = 'checkpoint_position'`).get() as { value: string } | undefined)?.value;
  } finally {
    db.close();
  }
}

const tampered = tamperedCopy;

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
    await c.sync(); // committed before the watcher's first answer, so its first diff is the restore's
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
      editSnapshot(db, (es) => es.map((e) => (e[1] === 'a' ? [e[0], e[1], { id: 'a', level: 999 }, e[3]] : e)));
    });
    dirs.push(lying);
    const ts = await startTestServer({ dataDir: lying });
    assert.equal(ts.server.bootStats.checkpointPosition, 0, 'the checkpoint was discarded');
    assert.deepEqual([...ts.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)), lamps.sort((x, y) => (x.id < y.id ? -1 : 1)));
    await ts.close();
    // The checkpoint saved at that stop replaced the discarded one whole: no row of it is left.
    assert.equal((await verifyDir(lying)).ok, true);

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

test('a snapshot entry changed behind the checkpoint (its event id still right) is found at boot and by verify', async () => {
  const dir = await seededDir();
  const dirs = [dir];
  try {
    const expected = await startTestServer({ dataDir: dir });
    const lamps = [...expected.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1));
    await expected.close();
    // The clean stop checkpoints the end of the log (which the server's own Server item's SET and DEL extended).
    const checkpointAt = Number(readCheckpointPosition(dir));
    assert.ok(checkpointAt > 0, 'the clean stop left a checkpoint');
    assert.equal((await verifyDir(dir)).ok, true);

    // Only one snapshot entry: the checkpoint's position and event id are left as they were.
    const edited = tampered(dir, (db) =>
      editSnapshot(db, (es) =>
        es.map((e) => {
          if (e[0] !== 'Lamp' || e[1] !== 'a') return e;
          assert.equal(e[2]?.level, 3);
          return [e[0], e[1], { ...e[2], level: 999 }, e[3]];
        }),
      ),
    );
    dirs.push(edited);
    const r = await verifyDir(edited);
    assert.equal(r.ok, false);
    assert.equal(r.failure!.position, checkpointAt);
    assert.match(r.failure!.reason, /snapshot segments .* do not match the digest/);
    const out = myko('verify', '--data-dir', edited);
    assert.equal(out.status, 1);
    assert.match(out.stdout, new RegExp(`MISMATCH at position ${checkpointAt}: snapshot segments`));

    // Boot falls back to a full replay: the state is the log's, not the edited row's.
    const ts = await startTestServer({ dataDir: edited });
    assert.equal(ts.server.bootStats.checkpointPosition, 0, 'the checkpoint was discarded');
    assert.ok(ts.server.bootStats.replayed >= 14);
    assert.deepEqual([...ts.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)), lamps);
    await ts.close();
    // That boot's clean stop wrote a checkpoint again, from the replayed state: it verifies.
    assert.equal((await verifyDir(edited)).ok, true);

    // A wrong entry saved with a digest that matches it (as a checkpointer bug would write): the digest
    // holds, and verify still finds it by replaying the log to the checkpoint's position.
    const consistent = tampered(dir, (db) =>
      editSnapshot(db, (es) => es.map((e) => (e[0] === 'Lamp' && e[1] === 'c' && e[2]?.level === 3 ? [e[0], e[1], { ...e[2], level: 42 }, e[3]] : e)), { consistent: true }),
    );
    dirs.push(consistent);
    const wrong = await verifyDir(consistent);
    assert.equal(wrong.failure?.position, checkpointAt);
    assert.equal(wrong.failure?.itemId, 'c');
    assert.match(wrong.failure!.reason, /^snapshot: the item differs from its last SET/);

    // A removed snapshot entry, too.
    const removed = tampered(dir, (db) => editSnapshot(db, (es) => es.filter((e) => !(e[0] === 'Lamp' && e[1] === 'c'))));
    dirs.push(removed);
    assert.match((await verifyDir(removed)).failure!.reason, /digest/);
    await assert.rejects(startTestServer({ dataDir: removed, config: { verifyOnBoot: true } }), /log verification failed at position \d+: snapshot segments/);
    const again = await startTestServer({ dataDir: removed });
    assert.deepEqual([...again.server.state.all('Lamp')].sort((x, y) => (x.id < y.id ? -1 : 1)), lamps);
    await again.close();
    assert.equal((await verifyDir(removed)).ok, true);
    const back = new SqliteEventStore({ dataDir: removed, sync: 'normal' });
    assert.equal([...(await back.loadCheckpoint()).items].filter((x) => x.itemType === 'Lamp').length, lamps.length, 'the entry is back');
    await back.close();
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('verify finds the last events of the log deleted (by the recorded head, and by the checkpoint when there is no head)', async () => {
  const dir = await seededDir();
  const dirs = [dir];
  try {
    const last = (db: Database.Database) => (db.prepare(`SELECT MAX(id) AS p FROM myko_events`).get() as { p: number }).p;
    let end = 0;
    const one = tampered(dir, (db) => {
      end = last(db);
      db.prepare('DELETE FROM myko_events WHERE id = ?').run(end);
    });
    dirs.push(one);
    let r = await verifyDir(one);
    assert.equal(r.ok, false);
    assert.equal(r.failure!.position, end);
    assert.match(r.failure!.reason, new RegExp(`ends at position ${end - 1}, but the store recorded appending up to position ${end} .*the last event is missing`));
    const out = myko('verify', '--data-dir', one);
    assert.equal(out.status, 1);
    assert.match(out.stdout, new RegExp(`MISMATCH at position ${end}: the log ends`));

    const three = tampered(dir, (db) => db.prepare('DELETE FROM myko_events WHERE id > ?').run(last(db) - 3));
    dirs.push(three);
    r = await verifyDir(three);
    assert.equal(r.failure!.position, end - 2);
    assert.match(r.failure!.reason, /the last 3 events are missing/);

    // A store written before the head was recorded: the checkpoint's claimed position still gives it away.
    const noHead = tampered(dir, (db) => {
      db.prepare(`DELETE FROM sqlite_sequence WHERE name = 'myko_log_head'`).run();
      db.prepare('DELETE FROM myko_events WHERE id > ?').run(last(db) - 2);
    });
    dirs.push(noHead);
    r = await verifyDir(noHead);
    assert.equal(r.failure!.position, end - 1);
    assert.match(r.failure!.reason, /but the checkpoint was taken at position \d+/);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('import is all or nothing: a bad line after the first chunk leaves the store empty, and a retry succeeds; progress has a real total', async () => {
  const dir = tempDir();
  const work = tempDir();
  try {
    const ts = await startTestServer({ dataDir: dir });
    const c = await TestClient.connect(ts.url);
    for (let b = 0; b < 14; b++)
      c.send({ event: 'ws:m:event-batch', data: Array.from({ length: 500 }, (_, k) => ({ itemType: 'Lamp', changeType: 'SET', item: { id: `l${k % 700}`, level: b * 500 + k } })) });
    await c.sync();
    await c.close();
    await ts.close();
    const good = join(work, 'good.ndjson');
    assert.equal(myko('export', '--data-dir', dir, '--out', good).status, 0);
    const lines = readFileSync(good, 'utf8').trimEnd().split('\n');
    assert.ok(lines.length > 7000, `${lines.length} events: more than one 5000-event chunk`);
    const bad = join(work, 'bad.ndjson');
    writeFileSync(bad, [...lines.slice(0, 6500), '{"itemType": broken', ...lines.slice(6500)].join('\n') + '\n');

    const target = join(work, 'imported');
    const failed = myko('import', '--in', bad, '--data-dir', target);
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /line 6501: not JSON/);
    assert.match(failed.stdout, /nothing imported: the store is left empty/);
    const store = new SqliteEventStore({ dataDir: target, sync: 'normal' });
    assert.equal(await store.lastPosition(), 0, 'the first chunk (5000 events) was rolled back with the rest');
    await store.close();

    // The retry is accepted (the store is empty) and, with progress forced on, draws a bar whose total is the file's size.
    const retry = mykoWith({ MYKO_PROGRESS: '1' }, 'import', '--in', good, '--data-dir', target);
    assert.equal(retry.status, 0, retry.stdout + retry.stderr);
    assert.match(retry.stdout, new RegExp(`imported ${lines.length} events[\\s\\S]*ok: ${lines.length} events verified`));
    const mib = (statSync(good).size / (1024 * 1024)).toFixed(1);
    assert.match(retry.stderr, new RegExp(`import \\[#{30}\\] ${mib.replace('.', '\\.')}/${mib.replace('.', '\\.')} MiB \\(100%\\)`));
    assert.match(retry.stderr, new RegExp(`verify \\[#{30}\\] ${lines.length}/${lines.length} \\(100%\\)`));
    // Without a terminal and without MYKO_PROGRESS, nothing is drawn.
    const quiet = myko('verify', '--data-dir', target);
    assert.equal(quiet.status, 0);
    assert.doesNotMatch(quiet.stderr, /verify \[/);
    assert.match(mykoWith({ MYKO_PROGRESS: '1' }, 'export', '--data-dir', target, '--out', join(work, 'again.ndjson')).stderr, /export \[#{30}\] \d+\/\d+ \(100%\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test('asOf {time}: a query answers with the state as of a timestamp', async () => {
  const ts = await startTestServer();
  try {
    const c = await TestClient.connect(ts.url);
    const beforeAll = new Date(Date.now() - 60_000).toISOString();
    c.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'first' } },
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q2', label: 'gone later' } },
    ] });
    await c.sync();
    await new Promise((r) => setTimeout(r, 30));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 30));
    c.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'second' } },
      { itemType: 'Cue', changeType: 'DEL', item: { id: 'q2' } },
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q3', label: 'new' } },
    ] });
    await c.sync();
    const asOf = async (tx: string, time: string) => {
      c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx, asOf: { time } } } });
      const r = await c.next((f) => f.event === 'ws:m:query-response' && f.data.tx === tx);
      return r.data.upserts.map((u: any) => [u.item.id, u.item.label]).sort();
    };
    assert.deepEqual(await asOf('then', between), [['q1', 'first'], ['q2', 'gone later']]);
    assert.deepEqual(await asOf('now', new Date(Date.now() + 60_000).toISOString()), [['q1', 'second'], ['q3', 'new']]);
    assert.deepEqual(await asOf('before', beforeAll), []);
    await c.close();
  } finally {
    await ts.close();
  }
});

test('periodic checkpoints are written while the server runs (by count and by interval), and their digest stays right', async () => {
  const { sleep } = await import('../testing/index.js');
  const waitFor = async (what: string, cond: () => Promise<boolean>) => {
    const deadline = Date.now() + 5000;
    while (!(await cond())) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const dataDir = tempDir();
  try {
    // By count: 5 changed items trigger one; the interval is far away.
    let ts = await startTestServer({ dataDir, config: { checkpointEvery: 5, checkpointIntervalMs: 600_000 } });
    let c = await TestClient.connect(ts.url);
    const claims = () => ts.server.store.claims!();
    const at0 = (await claims()).checkpoint?.position ?? 0;
    c.send({ event: 'ws:m:event-batch', data: ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, v: 1 } })) });
    await c.sync();
    await waitFor('a count-triggered checkpoint', async () => ((await claims()).checkpoint?.position ?? 0) > at0);
    // Deletes and a re-set of a deleted item go through the incremental digest too.
    c.send({ event: 'ws:m:event-batch', data: [
      ...['a', 'b'].map((id) => ({ itemType: 'Lamp', changeType: 'DEL', item: { id } })),
      ...['c', 'd', 'e'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, v: 2 } })),
    ] });
    await c.sync();
    await waitFor('a second checkpoint at the log position', async () => (await claims()).checkpoint?.position === ts.server.writer.position);
    c.send({ event: 'ws:m:event-batch', data: ['a', 'g', 'h', 'i', 'j'].map((id) => ({ itemType: 'Lamp', changeType: 'SET', item: { id, v: 3 } })) });
    await c.sync();
    await waitFor('a third checkpoint', async () => (await claims()).checkpoint?.position === ts.server.writer.position);
    assert.equal((await claims()).checkpoint?.problem, undefined, 'the incrementally kept digest equals one over every row');
    await c.close();
    await ts.close();

    // By interval: one change, far below the count, is saved within the interval.
    const stoppedAt = ts.server.writer.position;
    ts = await startTestServer({ dataDir, config: { checkpointEvery: 1_000_000, checkpointIntervalMs: 100 } });
    // Boot used that checkpoint (its digest held, the stale leaves row of the re-set 'a' included).
    assert.equal(ts.server.bootStats.checkpointPosition, stoppedAt);
    assert.equal(ts.server.bootStats.replayed, 0);
    assert.deepEqual([...ts.server.state.all('Lamp')].map((x) => [x.id, x.v]).sort(), [['a', 3], ['c', 2], ['d', 2], ['e', 2], ['f', 1], ['g', 3], ['h', 3], ['i', 3], ['j', 3]]);
    c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event', data: { itemType: 'Lamp', changeType: 'SET', item: { id: 'z', v: 1 } } });
    await c.sync();
    const position = ts.server.writer.position;
    await waitFor('an interval-triggered checkpoint', async () => (await claims()).checkpoint?.position === position);
    const saved = await ts.server.store.loadCheckpoint();
    assert.equal(saved.problem, undefined);
    assert.ok([...saved.items].some((x) => x.itemType === 'Lamp' && x.item.id === 'z'), 'the checkpoint holds the new item');
    await c.close();
    // A kill would lose nothing: the checkpoint is durable, and the log verifies against it.
    await ts.close();
    assert.equal((await verifyDir(dataDir)).ok, true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a restore only appends (earlier log rows byte-for-byte unchanged, verify passes) and can itself be undone', async () => {
  const dataDir = tempDir();
  try {
    const ts = await startTestServer({ dataDir });
    const c = await TestClient.connect(ts.url);
    const cmd = async (tx: string, commandId: string, p: object) => {
      c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...p } } });
      return (await c.next((f) => f.event === 'ws:m:command-response' && f.data.tx === tx)).data.response;
    };
    const cues = () => [...ts.server.state.all('Cue')].map((x) => [x.id, x.label]).sort();
    c.send({ event: 'ws:m:event-batch', data: ['q1', 'q2'].map((id) => ({ itemType: 'Cue', changeType: 'SET', item: { id, label: `cue ${id}` } })) });
    const point = await cmd('rp', 'CreateRestorePoint', { name: 'good' });
    c.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Cue', changeType: 'SET', item: { id: 'q1', label: 'WRONG' } },
      { itemType: 'Cue', changeType: 'DEL', item: { id: 'q2' } },
    ] });
    await c.sync();
    const bad = cues();
    const rows = () => ts.server.store.readRawAfter(0, 1_000_000);
    const before = await rows();

    const res = await cmd('restore', 'RestoreToPoint', { id: point.id });
    assert.deepEqual(cues(), [['q1', 'cue q1'], ['q2', 'cue q2']]);
    const after = await rows();
    assert.ok(after.length > before.length, 'the restore appended events');
    assert.deepEqual(after.slice(0, before.length), before, 'every earlier row is unchanged');

    // Undo: the restore answered a restore point taken just before it.
    assert.equal(typeof res.undo, 'string');
    const undone = await cmd('undo', 'RestoreToPoint', { id: res.undo });
    assert.equal(undone.name, 'before restoring to "good"');
    assert.deepEqual(cues(), bad);
    assert.deepEqual((await rows()).slice(0, after.length), after, 'the undo only appended too');
    await c.close();
    await ts.close();
    const v = myko('verify', '--data-dir', dataDir);
    assert.equal(v.status, 0, v.stdout);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
