import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TestClient, storeBackends, type AnyFrame, type TestServer } from '../testing/index.js';
import { definePlugin } from '../core/registry.js';
import { verifyLog } from './verify.js';

/** Project ⟵ Scene ⟵ Cue. */
const showPlugin = definePlugin({
  name: 'projects',
  itemTypes: [{ name: 'Project' }, { name: 'Scene', belongsTo: { projectId: 'Project' } }, { name: 'Cue', belongsTo: { sceneId: 'Scene' } }],
});

const backends = storeBackends();

const set = (itemType: string, item: Record<string, unknown>) => ({ itemType, changeType: 'SET', item });
const del = (itemType: string, id: string) => ({ itemType, changeType: 'DEL', item: { id } });
const batch = (events: unknown[]) => ({ event: 'ws:m:event-batch', data: events });
const resp = (tx: string) => (f: AnyFrame) => f.event === 'ws:m:query-response' && f.data.tx === tx;
async function command(c: TestClient, tx: string, commandId: string, params: Record<string, unknown>) {
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  const f = await c.next((x) => (x.event === 'ws:m:command-response' || x.event === 'ws:m:command-error') && x.data.tx === tx, 5000);
  if (f.event === 'ws:m:command-error') throw Object.assign(new Error(f.data.message), { frame: f });
  return f.data.response;
}
const strip = (item: any) => item && { ...item, hash: undefined };

for (const backend of backends) {
  test(`${backend.name}: a subtree restore point converges only that subtree, in one commit: changed revert, deleted return with their ids, newer go`, async (t) => {
    const opts = backend.opts();
    if (!opts) return t.skip('no PostgreSQL');
    const ts: TestServer = await startTestServer({ ...opts, plugins: [showPlugin] });
    try {
      const c = await TestClient.connect(ts.url);
      c.send(
        batch([
          set('Project', { id: 'p1', name: 'v1' }),
          set('Scene', { id: 'sA', projectId: 'p1', name: 'A' }),
          set('Scene', { id: 'sB', projectId: 'p1', name: 'B' }),
          set('Cue', { id: 'cA1', sceneId: 'sA', level: 1 }),
          set('Cue', { id: 'cB1', sceneId: 'sB', level: 2 }),
          set('Project', { id: 'p2', name: 'other' }),
          set('Scene', { id: 'sZ', projectId: 'p2', name: 'Z' }),
        ]),
      );
      await c.sync();
      const before = new Map(['Project:p1', 'Scene:sA', 'Scene:sB', 'Cue:cA1', 'Cue:cB1'].map((k) => [k, ts.server.state.get(k.split(':')[0]!, k.split(':')[1]!)]));
      const id = await command(c, 'rp', 'CreateRestorePoint', { name: 'before rehearsal', description: null, rootType: 'Project', rootId: 'p1' });
      assert.equal(typeof id, 'string', 'answers the new point’s id (WIRE.md 6.5)');
      const point = ts.server.state.get('RestorePoint', id)!;
      assert.equal(point.rootType, 'Project');
      assert.equal(point.rootId, 'p1');

      c.send(batch([set('Project', { id: 'p1', name: 'v2' }), set('Cue', { id: 'cA1', sceneId: 'sA', level: 9 })]));
      c.send(batch([del('Scene', 'sB')])); // cascades to cB1
      c.send(batch([set('Scene', { id: 'sC', projectId: 'p1', name: 'C' }), set('Cue', { id: 'cC1', sceneId: 'sC' }), set('Cue', { id: 'cA2', sceneId: 'sA' })]));
      c.send(batch([set('Scene', { id: 'sZ', projectId: 'p2', name: 'Z changed' })]));
      await c.sync();
      assert.equal(ts.server.state.get('Cue', 'cB1'), undefined);

      c.send({ event: 'ws:m:query', data: { queryId: 'GetAllScenes', queryItemType: 'Scene', query: { tx: 'scenes' } } });
      c.send({ event: 'ws:m:query', data: { queryId: 'GetAllCues', queryItemType: 'Cue', query: { tx: 'cues' } } });
      await c.next(resp('scenes'));
      await c.next(resp('cues'));
      const n = await command(c, 'restore', 'RestoreToPoint', { id });
      // SET p1, cA1, sB, cB1 (revert, resurrect); DEL sC (its cue cC1 by cascade), DEL cA2.
      assert.equal(n, 6, 'the number of events the restore wrote');
      await c.sync();
      for (const [k, v] of before) assert.deepEqual(strip(ts.server.state.get(k.split(':')[0]!, k.split(':')[1]!)), strip(v), `${k} as at the point`);
      for (const [type, gone] of [['Scene', 'sC'], ['Cue', 'cC1'], ['Cue', 'cA2']] as const) assert.equal(ts.server.state.get(type, gone), undefined, `${gone} is gone`);
      assert.equal(ts.server.state.get('Scene', 'sZ')!.name, 'Z changed', 'outside the subtree: untouched');
      // One commit: one diff per query, and every event with the command's tx.
      assert.equal(c.all('ws:m:query-response', 'scenes').filter((f) => f.data.sequence > 0).length, 1);
      assert.equal(c.all('ws:m:query-response', 'cues').filter((f) => f.data.sequence > 0).length, 1);
      const log = await ts.server.store.readAfter(0, 10_000);
      const restore = log.filter((e) => e.tx === 'restore');
      assert.equal(restore.length, 7, '6 written + the cascade of sC');
      assert.equal(Math.max(...restore.map((e) => e.position)) - Math.min(...restore.map((e) => e.position)), 6, 'contiguous: one commit');

      // The restore is undoable as a transaction; a second restore finds nothing to do.
      assert.equal(await command(c, 'again', 'RestoreToPoint', { id }), 0);
      const undone = await command(c, 'undo-restore', 'UndoTransaction', { transactionId: 'restore' });
      assert.ok(undone > 0);
      assert.equal(ts.server.state.get('Project', 'p1')!.name, 'v2');
      assert.equal(ts.server.state.get('Cue', 'cB1'), undefined);
      assert.ok(ts.server.state.get('Scene', 'sC'));

      // Whole-store points keep their shape.
      const whole = await command(c, 'rp-all', 'CreateRestorePoint', { name: 'everything' });
      assert.equal(typeof whole.id, 'string');
      c.send(batch([set('Project', { id: 'p1', name: 'v3' })]));
      await c.sync();
      const res = await command(c, 'restore-all', 'RestoreToPoint', { id: whole.id });
      assert.equal(typeof res.undo, 'string');
      assert.equal(ts.server.state.get('Project', 'p1')!.name, 'v2');
      // Its events share the command's tx, so it is one undoable transaction as well.
      assert.equal(await command(c, 'undo-all', 'UndoTransaction', { transactionId: 'restore-all' }), 2, 'p1 back, the undo point gone');
      assert.equal(ts.server.state.get('Project', 'p1')!.name, 'v3');
      // Bad params: a clear command error.
      await assert.rejects(command(c, 'half', 'CreateRestorePoint', { name: 'x', rootType: 'Project' }), /rootType and rootId go together/);
      if (backend.name === 'SQLite') assert.equal((await verifyLog(ts.server.store)).ok, true);
      await c.close();
    } finally {
      await ts.close();
    }
  });
}
