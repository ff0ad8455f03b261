import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, tempDir, storeBackends, testPostgres, sleep, type AnyFrame, type TestServer, until, liveResult } from '../testing/index.js';
import { definePlugin, defineItemType, type MykoPlugin } from '../core/registry.js';
import { verifyLog } from '../log/verify.js';
import { ensuredId } from './ensured-id.js';

/**
 * A show model: Cue belongs to Show, Note to Cue (transitive), and one
 * ShowSession per Show × Session (ensureFor). `related: false` is the same
 * types with no relationships: a plugin change between restarts.
 */
function showPlugin(related = true): MykoPlugin {
  return definePlugin({
    name: 'show',
    itemTypes: [
      { name: 'Show' },
      { name: 'Session' },
      defineItemType<{ id: string; showId: string; name?: string }>({ name: 'Cue', ...(related ? { belongsTo: { showId: 'Show' } } : {}) }),
      defineItemType<{ id: string; cueId: string }>({ name: 'Note', ...(related ? { belongsTo: { cueId: 'Cue' } } : {}) }),
      defineItemType<{ id: string; showId: string; sessionId: string; label: string }>({
        name: 'ShowSession',
        ...(related ? { ensureFor: { deps: { showId: 'Show', sessionId: 'Session' }, make: (show, session) => ({ label: `${String(show.name)} @ ${String(session.name)}` }) } } : {}),
      }),
    ],
  });
}

const backends = storeBackends();

const set = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
const del = (itemType: string, id: string) => ({ itemType, changeType: 'DEL', item: { id } });
const batch = (events: unknown[]) => ({ event: 'ws:m:event-batch', data: events });
const watch = (c: TestClient, tx: string, type: string) =>
  c.send({ event: 'ws:m:query', data: { queryId: `GetAll${type}s`, queryItemType: type, query: { tx } } });
const resp = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data.tx === tx;
async function logOf(ts: TestServer) {
  return ts.server.store.readAfter(0, 100_000);
}

for (const backend of backends) {
  test(`${backend.name}: deleting a show deletes its cues and their notes in the same commit; each watcher gets one diff`, async (t) => {
    const opts = backend.opts();
    if (!opts) return t.skip('no PostgreSQL');
    const ts = await startTestServer({ ...opts, plugins: [showPlugin()] });
    try {
      const w = await TestClient.connect(ts.url);
      w.send(batch([set('Show', { id: 's1' }), set('Show', { id: 's2' }), set('Cue', { id: 'c1', showId: 's1' }), set('Cue', { id: 'c2', showId: 's2' })]));
      w.send(batch([set('Note', { id: 'n1', cueId: 'c1' }), set('Note', { id: 'n2', cueId: 'c1' }), set('Note', { id: 'n3', cueId: 'c2' })]));
      await w.sync();
      const r = await TestClient.connect(ts.url);
      watch(r, 'cues', 'Cue');
      watch(r, 'notes', 'Note');
      await r.next(resp('cues'));
      await r.next(resp('notes'));
      w.send({ event: 'ws:m:event', data: { ...del('Show', 's1'), tx: 'drop-s1' } });
      await w.sync();
      await r.sync();
      // One diff per query for the whole cascade: the Note watcher never holds a note whose cue is gone.
      const cueDiffs = r.all('ws:m:query-response', 'cues').filter((f) => f.data.sequence > 0);
      const noteDiffs = r.all('ws:m:query-response', 'notes').filter((f) => f.data.sequence > 0);
      assert.equal(cueDiffs.length, 1, JSON.stringify(cueDiffs));
      assert.deepEqual(cueDiffs[0]!.data.deletes, ['c1']);
      assert.equal(noteDiffs.length, 1, JSON.stringify(noteDiffs));
      assert.deepEqual([...noteDiffs[0]!.data.deletes].sort(), ['n1', 'n2']);
      assert.deepEqual([...liveResult(r, 'notes').keys()], ['n3']);
      // In the log: ordinary DEL events, with the parent's tx, right after it.
      const log = await logOf(ts);
      const dropped = log.filter((e) => e.tx === 'drop-s1');
      assert.deepEqual(
        dropped.map((e) => `${e.changeType} ${e.itemType} ${e.item.id}`).sort(),
        ['DEL Cue c1', 'DEL Note n1', 'DEL Note n2', 'DEL Show s1'],
      );
      const positions = dropped.map((e) => e.position);
      assert.equal(Math.max(...positions) - Math.min(...positions), 3, 'one contiguous commit');
      // The submitter is answered for its own event only (no error for the derived ones).
      assert.equal(w.all('ws:m:error').length, 0);
      if (backend.name === 'SQLite') assert.equal((await verifyLog(ts.server.store)).ok, true);
      await w.close();
      await r.close();
    } finally {
      await ts.close();
    }
  });
}

test('a child may arrive before its parent; SET child + DEL parent in one batch leaves no orphan; cycles end', async () => {
  const cyclic = definePlugin({
    name: 'cyclic',
    itemTypes: [
      { name: 'Ying', belongsTo: { yangId: 'Yang' } },
      { name: 'Yang', belongsTo: { yingId: 'Ying' } },
    ],
  });
  const ts = await startTestServer({ plugins: [showPlugin(), cyclic] });
  try {
    const w = await TestClient.connect(ts.url);
    watch(w, 'notes', 'Note');
    await w.next(resp('notes'));
    // Before its cue (and its cue's show): accepted and kept.
    w.send(batch([set('Note', { id: 'early', cueId: 'later-cue' })]));
    await w.sync();
    assert.ok(liveResult(w, 'notes').has('early'));
    assert.equal(w.all('ws:m:error').length, 0);
    w.send(batch([set('Cue', { id: 'later-cue', showId: 'later-show' }), set('Show', { id: 'later-show' })]));
    await w.sync();
    // The parent's DEL takes it (through the cue).
    w.send(batch([del('Show', 'later-show')]));
    await w.sync();
    assert.ok(!liveResult(w, 'notes').has('early'));
    assert.equal(ts.server.state.get('Cue', 'later-cue'), undefined);

    // One batch that SETs a child, then DELs its parent: the cascade sees the batch's own SET.
    w.send(batch([set('Cue', { id: 'c9', showId: 's9' }), set('Show', { id: 's9' })]));
    await w.sync();
    w.send(batch([set('Note', { id: 'n9', cueId: 'c9' }), del('Cue', 'c9')]));
    await w.sync();
    assert.equal(ts.server.state.get('Note', 'n9'), undefined);
    assert.ok(!liveResult(w, 'notes').has('n9'));

    // Deleted, SET again under the parent, then the parent deleted, all in one batch: the re-SET child goes too.
    w.send(batch([set('Cue', { id: 'c8', showId: 's8' }), set('Show', { id: 's8' })]));
    await w.sync();
    w.send(batch([del('Cue', 'c8'), set('Cue', { id: 'c8', showId: 's8' }), del('Show', 's8')]));
    await w.sync();
    assert.equal(ts.server.state.get('Cue', 'c8'), undefined);

    // A cycle: each deleted once, the commit ends.
    w.send(batch([set('Ying', { id: 'a', yangId: 'b' }), set('Yang', { id: 'b', yingId: 'a' })]));
    await w.sync();
    w.send(batch([del('Ying', 'a')]));
    await w.sync();
    assert.equal(ts.server.state.get('Yang', 'b'), undefined);
    assert.equal((await verifyLog(ts.server.store)).ok, true);
    await w.close();
  } finally {
    await ts.close();
  }
});

test('ensureFor: one item per show × session, created on SET of either, deleted with either, with a deterministic id', async () => {
  const ts = await startTestServer({ plugins: [showPlugin()] });
  try {
    const w = await TestClient.connect(ts.url);
    watch(w, 'ss', 'ShowSession');
    await w.next(resp('ss'));
    w.send(batch([set('Show', { id: 's1', name: 'Tosca' }), set('Session', { id: 'x', name: 'Mon' })]));
    await w.sync();
    const id1x = ensuredId('ShowSession', ['s1', 'x']);
    assert.deepEqual(
      { ...ts.server.state.get('ShowSession', id1x), hash: undefined },
      { id: id1x, showId: 's1', sessionId: 'x', label: 'Tosca @ Mon', hash: undefined },
    );
    w.send(batch([set('Session', { id: 'y', name: 'Tue' }), set('Show', { id: 's2', name: 'Aida' })]));
    await w.sync();
    assert.equal(liveResult(w, 'ss').size, 4, 's1×x, s1×y, s2×x, s2×y');
    // An update of a dependency creates nothing new and keeps what was there.
    w.send(batch([set('Show', { id: 's1', name: 'Tosca (revival)' })]));
    await w.sync();
    assert.equal(liveResult(w, 'ss').size, 4);
    w.send(batch([del('Session', 'x')]));
    await w.sync();
    assert.deepEqual([...liveResult(w, 'ss').values()].map((s) => `${s.showId}×${s.sessionId}`).sort(), ['s1×y', 's2×y']);
    w.send(batch([del('Show', 's2')]));
    await w.sync();
    assert.deepEqual([...liveResult(w, 'ss').values()].map((s) => `${s.showId}×${s.sessionId}`), ['s1×y']);
    assert.equal((await verifyLog(ts.server.store)).ok, true);
    await w.close();
  } finally {
    await ts.close();
  }
});

test('startup repair: orphans removed and missing combinations created, as logged events, before the first client is served', async () => {
  const dataDir = tempDir();
  // First run without relationships (a plugin change between restarts): orphans and no ShowSession.
  const first = await startTestServer({ dataDir, keepData: true, plugins: [showPlugin(false)] });
  const w = await TestClient.connect(first.url);
  w.send(batch([set('Show', { id: 's1', name: 'A' }), set('Session', { id: 'x', name: 'B' }), set('Cue', { id: 'kept', showId: 's1' })]));
  w.send(batch([set('Cue', { id: 'orphan', showId: 'gone' }), set('Note', { id: 'orphan-note', cueId: 'orphan' }), set('Note', { id: 'loose', cueId: '' })]));
  await w.sync();
  await w.close();
  await first.close();

  const second = await startTestServer({ dataDir, plugins: [showPlugin()] });
  try {
    // The very first answer a client gets already has the repaired state.
    const r = await TestClient.connect(second.url);
    watch(r, 'cues', 'Cue');
    watch(r, 'notes', 'Note');
    watch(r, 'ss', 'ShowSession');
    const cues = await r.next(resp('cues'));
    const notes = await r.next(resp('notes'));
    const ss = await r.next(resp('ss'));
    assert.deepEqual(cues.data.upserts.map((u: any) => u.item.id), ['kept']);
    assert.deepEqual(notes.data.upserts.map((u: any) => u.item.id), ['loose'], 'an empty foreign key is not an orphan');
    assert.deepEqual(ss.data.upserts.map((u: any) => u.item.id), [ensuredId('ShowSession', ['s1', 'x'])]);
    assert.equal(second.server.bootStats.orphansRemoved, 1);
    assert.equal(second.server.bootStats.ensuredCreated, 1);
    const log = await logOf(second);
    assert.ok(log.some((e) => e.changeType === 'DEL' && e.itemType === 'Cue' && e.item.id === 'orphan'));
    assert.ok(log.some((e) => e.changeType === 'DEL' && e.itemType === 'Note' && e.item.id === 'orphan-note'), 'the orphan’s own children went with it');
    assert.equal((await verifyLog(second.server.store)).ok, true);
    // Idempotent: a further restart finds nothing to repair.
    await r.close();
  } finally {
    await second.close();
  }
  const third = await startTestServer({ dataDir, keepData: true, plugins: [showPlugin()] });
  try {
    assert.equal(third.server.bootStats.orphansRemoved + third.server.bootStats.ensuredCreated, 0);
  } finally {
    await third.close();
  }
  // `myko verify` (the CLI) passes over the repaired log.
  const out = spawnSync(process.execPath, [fileURLToPath(new URL('../cli.js', import.meta.url)), 'verify', '--data-dir', dataDir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  rmSync(dataDir, { recursive: true, force: true });
});

test('cluster: the member that commits the parent’s DEL commits the cascade once; the other applies it without repeating it', async (t) => {
  const own = await testPostgres();
  if (!own) return t.skip('no PostgreSQL');
  t.after(() => own.drop());
  const config = { postgresUrl: own.url, postgresSchema: own.schema };
  const a = await startTestServer({ config, plugins: [showPlugin()] });
  const b = await startTestServer({ config, plugins: [showPlugin()] });
  try {
    const ca = await TestClient.connect(a.url);
    const cb = await TestClient.connect(b.url);
    watch(cb, 'notes', 'Note');
    watch(cb, 'cues', 'Cue');
    await cb.next(resp('notes'));
    await cb.next(resp('cues'));
    // The children are written through B, the parent's DEL through A right after: A must see them.
    cb.send(batch([set('Show', { id: 's1' }), set('Cue', { id: 'c1', showId: 's1' }), set('Note', { id: 'n1', cueId: 'c1' })]));
    await cb.sync();
    await until(() => a.server.state.get('Note', 'n1') !== undefined, 5000, 'A has the note');
    ca.send({ event: 'ws:m:event', data: { ...del('Show', 's1'), tx: 'drop' } });
    await until(() => b.server.state.get('Note', 'n1') === undefined && a.server.state.get('Note', 'n1') === undefined, 5000, 'cascade on both');
    // Children committed by A and the parent's DEL right behind them, through A: A's state may not have
    // applied its own last commit yet (the tailer applies it); the cascade must still see the children.
    for (let i = 0; i < 20; i++) {
      ca.send(batch([set('Show', { id: `q${i}` }), set('Cue', { id: `qc${i}`, showId: `q${i}` }), set('Note', { id: `qn${i}`, cueId: `qc${i}` })]));
      // Apart by a few ms, so the DEL lands while the children's commit is in flight, not in the same commit.
      await sleep(i % 5);
      ca.send(batch([del('Show', `q${i}`)]));
    }
    await ca.sync();
    await until(() => [...b.server.state.all('Show')].every((s) => !String(s.id).startsWith('q')), 5000, 'shows deleted on B');
    for (const m of [a, b]) {
      assert.equal([...m.server.state.all('Cue')].filter((c) => String(c.id).startsWith('qc')).length, 0, 'no orphan cue');
      assert.equal([...m.server.state.all('Note')].filter((n) => String(n.id).startsWith('qn')).length, 0, 'no orphan note');
    }
    // Ensured items created on one member are not created again by the other.
    ca.send(batch([set('Show', { id: 's2', name: 'A' }), set('Session', { id: 'x', name: 'B' })]));
    await until(() => b.server.state.get('ShowSession', ensuredId('ShowSession', ['s2', 'x'])) !== undefined, 5000, 'ensured item on B');
    await sleep(300);
    await ca.sync();
    await cb.sync();
    const log = await logOf(a);
    const count = (type: string, change: string, id: string) => log.filter((e) => e.itemType === type && e.changeType === change && e.item.id === id).length;
    assert.equal(count('Cue', 'DEL', 'c1'), 1, 'cue deleted once');
    assert.equal(count('Note', 'DEL', 'n1'), 1, 'note deleted once');
    assert.equal(count('ShowSession', 'SET', ensuredId('ShowSession', ['s2', 'x'])), 1, 'ensured item created once');
    assert.equal(log.filter((e) => e.tx === 'drop').length, 3);
    // B's watcher saw the cue and the note go in one diff each.
    assert.equal(cb.all('ws:m:query-response', 'notes').filter((f) => f.data.deletes.includes('n1')).length, 1);
    assert.equal(liveResult(cb, 'notes').size, 0);
    await ca.close();
    await cb.close();
  } finally {
    await b.close();
    await a.close();
  }
});

test('cluster: two members starting at once both run the startup repair; it is idempotent (same ids, no-op repeats)', async (t) => {
  const own = await testPostgres();
  if (!own) return t.skip('no PostgreSQL');
  t.after(() => own.drop());
  const config = { postgresUrl: own.url, postgresSchema: own.schema };
  const first = await startTestServer({ config, plugins: [showPlugin(false)] });
  const w = await TestClient.connect(first.url);
  w.send(batch([set('Show', { id: 's1', name: 'A' }), set('Session', { id: 'x', name: 'B' }), set('Cue', { id: 'orphan', showId: 'gone' })]));
  await w.sync();
  await w.close();
  await first.close();

  const [a, b] = await Promise.all([startTestServer({ config, plugins: [showPlugin()] }), startTestServer({ config, plugins: [showPlugin()] })]);
  try {
    const id = ensuredId('ShowSession', ['s1', 'x']);
    await until(() => [a, b].every((m) => m.server.state.get('Cue', 'orphan') === undefined && m.server.state.get('ShowSession', id) !== undefined), 5000, 'repaired on both');
    const log = await logOf(a);
    const sets = log.filter((e) => e.itemType === 'ShowSession' && e.changeType === 'SET');
    assert.ok(sets.length >= 1 && sets.length <= 2, 'created by one member, or by both with the same id');
    assert.ok(sets.every((e) => e.item.id === id && e.item.hash === sets[0]!.item.hash), 'one item, the same content');
    assert.equal(a.server.state.count('ShowSession'), 1);
    assert.equal(b.server.state.count('ShowSession'), 1);
  } finally {
    await b.close();
    await a.close();
  }
});
