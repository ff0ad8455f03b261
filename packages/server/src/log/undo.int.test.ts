import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, TestClient, tempDir, storeBackends, type TestServer } from '../testing/index.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { definePlugin } from '../core/registry.js';
import { verifyLog } from './verify.js';

const plugin = definePlugin({ name: 'undo-test', itemTypes: [{ name: 'Rig' }, { name: 'Fixture', belongsTo: { rigId: 'Rig' } }] });

const backends = storeBackends();

const ev = (tx: string, changeType: 'SET' | 'DEL', itemType: string, item: Record<string, unknown>) => ({ itemType, changeType, item, tx });
async function command(c: TestClient, tx: string, commandId: string, params: Record<string, unknown>) {
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  const f = await c.next((x) => (x.event === 'ws:m:command-response' || x.event === 'ws:m:command-error') && x.data.tx === tx, 5000);
  if (f.event === 'ws:m:command-error') throw Object.assign(new Error(f.data.message), { code: f.data.code ?? f.data.error?.code, frame: f });
  return f.data.response;
}
async function report(c: TestClient, tx: string, reportId: string, params: Record<string, unknown>) {
  c.send({ event: 'ws:m:report', data: { reportId, report: { tx, ...params } } });
  return (await c.next((x) => x.event === 'ws:m:report-response' && x.data.tx === tx, 5000)).data.response;
}

for (const backend of backends) {
  test(`${backend.name}: TransactionUndoPlan reports, UndoTransaction undoes one tx in one commit, refuses conflicts unless forced, and can be undone`, async (t) => {
    const opts = backend.opts();
    if (!opts) return t.skip('no PostgreSQL');
    const ts: TestServer = await startTestServer({ ...opts, plugins: [plugin] });
    try {
      const c = await TestClient.connect(ts.url);
      c.send({ event: 'ws:m:event-batch', data: [ev('t0', 'SET', 'Rig', { id: 'r1', name: 'front' }), ev('t0', 'SET', 'Fixture', { id: 'f1', rigId: 'r1', dmx: 1 }), ev('t0', 'SET', 'Fixture', { id: 'f2', rigId: 'r1', dmx: 2 })] });
      // t1: changes f1, creates f3.
      c.send({ event: 'ws:m:event-batch', data: [ev('t1', 'SET', 'Fixture', { id: 'f1', rigId: 'r1', dmx: 10 }), ev('t1', 'SET', 'Fixture', { id: 'f3', rigId: 'r1', dmx: 3 })] });
      await c.sync();

      const plan = await report(c, 'plan1', 'TransactionUndoPlan', { transactionId: 't1' });
      assert.deepEqual(
        plan.map((p: any) => [p.itemType, p.itemId, p.prior?.dmx ?? null, p.inTxValue.dmx, p.conflict]).sort(),
        [
          ['Fixture', 'f1', 1, 10, false],
          ['Fixture', 'f3', null, 3, false],
        ],
      );
      assert.deepEqual(await report(c, 'plan-none', 'TransactionUndoPlan', { transactionId: 'no-such-tx' }), []);

      // A later tx changes f1: undoing t1 would overwrite it.
      c.send({ event: 'ws:m:event', data: ev('t2', 'SET', 'Fixture', { id: 'f1', rigId: 'r1', dmx: 11 }) });
      await c.sync();
      const plan2 = await report(c, 'plan2', 'TransactionUndoPlan', { transactionId: 't1' });
      const f1 = plan2.find((p: any) => p.itemId === 'f1');
      assert.equal(f1.conflict, true);
      assert.deepEqual(f1.laterTxs, ['t2']);
      const refused: any = await command(c, 'u1', 'UndoTransaction', { transactionId: 't1' }).catch((e: unknown) => e);
      assert.ok(refused instanceof Error);
      assert.match(refused.message, /Fixture:f1/);
      assert.equal((refused as { code?: string }).code, 'MYKO_UNDO_CONFLICT');
      assert.equal(ts.server.state.get('Fixture', 'f1')!.dmx, 11, 'nothing written when refused');

      // force: undone in one commit with the command's tx.
      assert.equal(await command(c, 'u2', 'UndoTransaction', { transactionId: 't1', force: true }), 2);
      assert.equal(ts.server.state.get('Fixture', 'f1')!.dmx, 1, 'back to before t1');
      assert.equal(ts.server.state.get('Fixture', 'f3'), undefined);
      const log = await ts.server.store.readAfter(0, 10_000);
      assert.deepEqual(log.filter((e) => e.tx === 'u2').map((e) => `${e.changeType} ${e.item.id}`).sort(), ['DEL f3', 'SET f1']);

      // The undo is a transaction too: undoing it brings back t1's effects (the undo's own items have no later change).
      assert.equal(await command(c, 'u3', 'UndoTransaction', { transactionId: 'u2' }), 2);
      assert.equal(ts.server.state.get('Fixture', 'f1')!.dmx, 11);
      assert.equal(ts.server.state.get('Fixture', 'f3')!.dmx, 3);

      // Undoing a delete whose cascade took children (same tx) brings them all back.
      c.send({ event: 'ws:m:event', data: ev('drop', 'DEL', 'Rig', { id: 'r1' }) });
      await c.sync();
      assert.equal(ts.server.state.count('Fixture'), 0);
      assert.equal(await command(c, 'u4', 'UndoTransaction', { transactionId: 'drop' }), 4);
      assert.equal(ts.server.state.count('Fixture'), 3);
      assert.ok(ts.server.state.get('Rig', 'r1'));
      if (backend.name === 'SQLite') assert.equal((await verifyLog(ts.server.store)).ok, true);
      await c.close();
    } finally {
      await ts.close();
    }
  });
}

test('a store without a tx index: the plan finds the transaction by a pass over the log, with the same answer', async () => {
  const dataDir = tempDir();
  const sqlite = new SqliteEventStore({ dataDir, sync: 'normal' });
  // The same store with readTx hidden (e.g. a custom backend).
  const store = new Proxy(sqlite, { get: (target, prop) => (prop === 'readTx' ? undefined : Reflect.get(target, prop, target)) });
  const ts = await startTestServer({ store, dataDir, plugins: [plugin] });
  try {
    const c = await TestClient.connect(ts.url);
    c.send({ event: 'ws:m:event-batch', data: [ev('a', 'SET', 'Rig', { id: 'r1' }), ev('a', 'SET', 'Fixture', { id: 'f1', rigId: 'r1', dmx: 1 })] });
    c.send({ event: 'ws:m:event', data: ev('b', 'SET', 'Fixture', { id: 'f1', rigId: 'r1', dmx: 2 }) });
    await c.sync();
    const plan = await report(c, 'p', 'TransactionUndoPlan', { transactionId: 'b' });
    assert.deepEqual(plan.map((t: any) => [t.itemId, t.prior.dmx, t.inTxValue.dmx, t.conflict]), [['f1', 1, 2, false]]);
    assert.equal(await command(c, 'u', 'UndoTransaction', { transactionId: 'b' }), 1);
    assert.equal(ts.server.state.get('Fixture', 'f1')!.dmx, 1);
    await c.close();
  } finally {
    await ts.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
