import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { exited, spawnServer, tempDir, testPostgres } from '@myko/server/testing';
import { getAll, type ConnectionStatus, type QueryResult } from '../node.js';
import { closeClients, testClient, valueWhere } from './support.js';

/**
 * The SDK against a real cluster: three server processes on the PostgreSQL of
 * this machine (a fresh schema), one killed with SIGKILL while clients write
 * through all three. The server side of that crash is tested in the server's
 * cluster tests; this is the client's half: failover to another member, live
 * queries resumed there, writes carried on.
 */
let db: Awaited<ReturnType<typeof testPostgres>>;
const procs = new Set<ChildProcess>();
const dirs: string[] = [];
before(async () => {
  db = await testPostgres();
});
after(async () => {
  closeClients();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all([...procs].map((p) => exited(p)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await db?.drop();
});

async function member() {
  const dataDir = tempDir('myko-client-cluster-');
  dirs.push(dataDir);
  const m = await spawnServer({ dataDir, env: { MYKO_POSTGRES_URL: db!.url, MYKO_POSTGRES_SCHEMA: db!.schema } });
  procs.add(m.proc);
  return m;
}

const noDuplicates = (r: QueryResult) => r.values.length === r.items.size && r.items.size === r.totalCount;

test('kill -9 of a cluster member: its clients fail over to another member, their live queries resume there, writes carry on, nothing acknowledged is lost', async (t) => {
  if (!db) return t.skip('no PostgreSQL');
  const [a, b, c] = [await member(), await member(), await member()];

  // An observer on A, and on B the client that will lose its server: it knows B and C.
  const observer = testClient({ url: a.url });
  const ticksOnA = observer.watchQuery(getAll('Tick'));
  ticksOnA.subscribe(() => undefined);
  const servers = observer.watchQuery(getAll('Server'));
  servers.subscribe(() => undefined);
  const clients = observer.watchQuery(getAll('Client'));
  clients.subscribe(() => undefined);
  const serverIdOf = async (port: number) =>
    (await valueWhere(servers, (r) => r.values.some((s) => s.port === port), `Server item of port ${port}`)).values.find((s) => s.port === port)!.id as string;
  const [idB, idC] = [await serverIdOf(b.port), await serverIdOf(c.port)];

  const moving = testClient({ urls: [b.url, c.url] });
  const statuses: ConnectionStatus[] = [];
  moving.status.subscribe((s) => statuses.push(s));
  assert.equal((await moving.connected()).url, b.url);
  const live = moving.watchQuery(getAll('Tick'));
  live.subscribe(() => undefined);
  await valueWhere(live, (r) => r.totalCount === 0, 'the first (empty) result on B');
  const firstId = moving.clientId!;
  await valueWhere(clients, (r) => r.items.get(firstId)?.serverId === idB, 'the Client item says it is held by B');

  // Writers on all three members; each write is acknowledged once the observer on A sees it (committed, applied).
  const writers = [a, b, c].map((m) => testClient({ url: m.url }));
  for (let n = 0; n < 30; n++) writers.forEach((w, i) => w.set('Tick', { id: `w${i}-${n}` }));
  await valueWhere(ticksOnA, (r) => r.items.size === 90, 'every write before the kill');
  await valueWhere(live, (r) => r.items.size === 90, 'the moving client sees them through B');

  b.proc.kill('SIGKILL');
  await exited(b.proc);
  const onC = await moving.status.until((s) => s.type === 'connected' && s.url === c.url);
  assert.equal(onC.type, 'connected');
  assert.ok(statuses.some((s) => s.type === 'disconnected'), 'the client noticed the loss');

  // The live query resumed on C: one consistent result, the pre-kill writes included, then later ones.
  for (let n = 30; n < 60; n++) [writers[0]!, writers[2]!].forEach((w, i) => w.set('Tick', { id: `w${i * 2}-${n}` }));
  moving.set('Tick', { id: 'from-the-moved-client' });
  const expected = 90 + 60 + 1;
  const after = await valueWhere(live, (r) => r.items.size === expected, 'the moved client sees writes through A and C and its own');
  assert.ok(noDuplicates(after), 'sequence 0 on C replaced the result from B');
  for (let n = 0; n < 30; n++) assert.ok(after.items.has(`w1-${n}`), `B's acknowledged write w1-${n} survived B's death`);
  await valueWhere(ticksOnA, (r) => r.items.size === expected && r.items.has('from-the-moved-client'), 'A sees the moved client\'s write');

  // Its new connection is a Client held by C; B's clients are reaped by the surviving members.
  const secondId = moving.clientId!;
  assert.notEqual(secondId, firstId);
  await valueWhere(clients, (r) => r.items.get(secondId)?.serverId === idC, 'the Client item says it is held by C');
  await valueWhere(clients, (r) => !r.values.some((x) => x.serverId === idB), 'no Client is left on the dead member', 15_000);
});
