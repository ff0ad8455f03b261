/** The reference server's built-ins (WIRE.md 6.5) through the client's spec helpers, against a real server. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '@myko/server/testing';
import { clientStatus, connectedServer, countAll, countWhere, deleteCommand, itemById, itemType, peerServers, serverStats, windbackStatus } from '../node.js';
import { closeClients, testClient, valueWhere } from './support.js';

interface Cue {
  id: string;
  group: string;
}
const Cue = itemType<Cue>('Cue');

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  closeClients();
  await ts.close();
});

test('countAll, countWhere, itemById are live; deleteCommand names Delete{X} and Delete{X}s', async () => {
  const client = testClient({ url: ts.url });
  await client.connected();
  const all = client.watchReport(countAll(Cue));
  const inA = client.watchReport(countWhere(Cue, { group: 'a' }));
  const one = client.watchReport(itemById(Cue, 'c1'));
  await valueWhere(all, (v) => v.count === 0, 'no cues');
  await valueWhere(one, (v) => v === null, 'c1 absent');
  client.set(Cue, { id: 'c1', group: 'a' });
  client.set(Cue, { id: 'c2', group: 'b' });
  await valueWhere(all, (v) => v.count === 2, 'two cues');
  await valueWhere(inA, (v) => v.count === 1, 'one in a');
  assert.equal((await valueWhere(one, (v) => v !== null, 'c1 present'))!.group, 'a');
  const del = deleteCommand(Cue);
  assert.deepEqual(await client.sendCommand(del.one, { id: 'c1' }), { deleted: true });
  await valueWhere(one, (v) => v === null, 'c1 deleted');
  assert.deepEqual(await client.sendCommand(del.many, { ids: ['c2', 'c3'] }), { deletedCount: 1 });
  await valueWhere(all, (v) => v.count === 0, 'none left');
});

test('peerServers, connectedServer, serverStats, clientStatus, windbackStatus on a lone server', async () => {
  const client = testClient({ url: ts.url });
  await client.connected();
  assert.equal((await client.watchQuery(peerServers()).first()).totalCount, 0);
  const me = await client.watchQuery(connectedServer()).first();
  assert.deepEqual([...me.items.keys()], [ts.server.serverId], 'a lone server publishes its own Server item');
  const stats = await valueWhere(client.watchReport(serverStats()), (v) => v.clientCount >= 1, 'stats');
  assert.equal(stats.server?.id, ts.server.serverId);
  const clientId = [...ts.server.connections.keys()].at(-1)!;
  await valueWhere(client.watchReport(clientStatus(clientId)), (v) => v.online, 'online');
  const wb = client.watchReport(windbackStatus());
  await valueWhere(wb, (v) => v.windback === null, 'no windback');
  assert.equal(await client.sendCommand('SetClientWindbackTime', { windback: '2026-01-01T00:00:00Z' }), true);
  await valueWhere(wb, (v) => v.windback === '2026-01-01T00:00:00Z', 'windback set');
});
