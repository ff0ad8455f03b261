import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startTestServer, spawnServer, exited, tempDir, TestClient, sleep } from '../testing/index.js';
import { definePlugin, defineItemType } from '../core/registry.js';

/** An app that owns two types per client: sessions vanish, status goes offline. */
const app = definePlugin({
  name: 'lifecycle-test',
  itemTypes: [
    defineItemType({ name: 'Session', owner: { field: 'clientId', onDisconnect: 'delete' } }),
    defineItemType<{ id: string; clientId: string; status: string }>({
      name: 'Presence',
      owner: { field: 'clientId', onDisconnect: (item) => ({ ...item, status: 'offline' }) },
    }),
  ],
});

test('a Client item per connection; owned items deleted or updated on disconnect', async () => {
  const ts = await startTestServer({ plugins: [app] });
  try {
    const watcher = await TestClient.connect(ts.url);
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllClients', queryItemType: 'Client', query: { tx: 'cl' } } });
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllPresences', queryItemType: 'Presence', query: { tx: 'pr' } } });
    watcher.send({ event: 'ws:m:query', data: { queryId: 'GetAllSessions', queryItemType: 'Session', query: { tx: 'se' } } });
    await watcher.sync();

    const exec = await TestClient.connect(ts.url);
    const id = exec.clientId!;
    const joined = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'cl' && f.data.upserts.some((u: any) => u.item.id === id));
    const clientItem = joined.data.upserts.find((u: any) => u.item.id === id).item;
    assert.equal(clientItem.serverId, ts.server.serverId);
    assert.equal(typeof clientItem.address, 'string');
    assert.ok(!Number.isNaN(Date.parse(clientItem.connectedAt)));

    // A current-dialect client never sends its clientId: the server fills the owner field.
    exec.send({ event: 'ws:m:event-batch', data: [
      { itemType: 'Session', changeType: 'SET', item: { id: 's1' } },
      { itemType: 'Presence', changeType: 'SET', item: { id: 'p1', status: 'online' } },
    ] });
    await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'pr' && f.data.upserts[0]?.item.clientId === id);

    await exec.close();
    const gone = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'cl' && f.data.deletes.includes(id));
    assert.ok(gone);
    const sess = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'se' && f.data.deletes.includes('s1'));
    assert.ok(sess);
    const off = await watcher.next((f) => f.event === 'ws:m:query-response' && f.data.tx === 'pr' && f.data.upserts[0]?.item.status === 'offline');
    assert.equal(off.data.upserts[0].item.id, 'p1');
    await watcher.close();
  } finally {
    await ts.close();
  }
});

test('Client items of a killed run are reaped at boot, with what they owned', async () => {
  const dataDir = tempDir();
  try {
    const child = await spawnServer({ dataDir });
    const c = await TestClient.connect(child.url);
    c.send({ event: 'ws:m:event', data: { itemType: 'Session', changeType: 'SET', item: { id: 'orphan', clientId: c.clientId } } });
    await c.sync();
    await sleep(50);
    child.proc.kill('SIGKILL');
    await exited(child.proc);

    const ts = await startTestServer({ dataDir, plugins: [app] });
    try {
      assert.equal(ts.server.bootStats.reapedClients, 1);
      assert.equal(ts.server.state.count('Client'), 0);
      assert.equal(ts.server.state.get('Session', 'orphan'), undefined);
    } finally {
      await ts.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
