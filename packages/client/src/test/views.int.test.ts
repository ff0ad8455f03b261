import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { definePlugin, defineView, type StateReader } from '@myko/server';
import { startTestServer, tempDir, type TestServer } from '@myko/server/testing';
import { isViewError, view, type MItem, type QueryChange, type QueryResult } from '../node.js';
import { closeClients, freePort, recorder, testClient, valueWhere } from './support.js';

/** watchView / watchViewDiff against a real server with a view plugin (WIRE.md 6.3). */

interface Tally {
  id: string;
  total: number;
}

/** A sum of Score values per team: a TeamTally is never stored. */
const tallies = defineView<{ min?: number }, MItem>({
  id: 'GetTeamTallies',
  itemType: 'TeamTally',
  params: { type: 'object', properties: { min: { type: 'number' } } },
  dependsOn: () => ['Score'],
  build(p, state: StateReader) {
    const sums = new Map<string, number>();
    for (const s of state.all('Score')) sums.set(String(s.team), (sums.get(String(s.team)) ?? 0) + Number(s.value));
    return [...sums].filter(([, total]) => total >= (p.min ?? 0)).map(([id, total]) => ({ id, total }));
  },
});
const plugins = [definePlugin({ name: 'client-views-test', views: [tallies] })];

const servers = new Set<TestServer>();
const dirs: string[] = [];
after(async () => {
  closeClients();
  await Promise.all([...servers].map((s) => s.close().catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const score = (id: string, team: string, value: number) => ({ id, team, value });

test('watchView: whole results of the view, live; watchViewDiff: the changes; a view-error rejects with ViewError', async () => {
  const ts = await startTestServer({ plugins });
  servers.add(ts);
  const client = testClient({ url: ts.url });
  client.set('Score', score('s1', 'red', 3));
  client.set('Score', score('s2', 'blue', 5));
  const live = client.watchView(view<Tally>('GetTeamTallies', 'TeamTally'));
  const first = await valueWhere(live, (r) => r.items.size === 2, 'both tallies');
  assert.deepEqual(first.items.get('red'), { id: 'red', total: 3 });
  const diffs: QueryChange<Tally>[] = [];
  client.watchViewDiff(view<Tally>('GetTeamTallies', 'TeamTally')).subscribe((c) => diffs.push(c));
  client.set('Score', score('s3', 'red', 4));
  const next = await valueWhere(live, (r) => r.items.get('red')?.total === 7, 'red at 7');
  assert.equal(next.items.get('blue')?.total, 5);
  assert.equal(diffs[0]!.reset, true);
  assert.deepEqual(diffs.at(-1)!.upserts, [{ id: 'red', total: 7 }]);

  const bad = client.watchView(view('GetTeamTallies', 'TeamTally', { min: 'lots' }));
  const err = await bad.first().catch((e: unknown) => e);
  assert.ok(isViewError(err), String(err));
  assert.equal((err as { viewId: string }).viewId, 'GetTeamTallies');
  assert.match((err as Error).message, /min/);
  const unknown = await client.watchView(view('GetNoSuchView', 'X')).first().catch((e: unknown) => e);
  assert.ok(isViewError(unknown));
  client.close();
});

test('a windowed view: values in the server\'s page order, setWindow moves the page, removing it gives the whole view', async () => {
  const ts = await startTestServer({ plugins });
  servers.add(ts);
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  for (const team of ['m', 'p', 't']) client.set('Score', score(`w-${team}`, team, 1));
  const live = client.watchView(view<Tally>('GetTeamTallies', 'TeamTally', {}, { offset: 0, limit: 2 }));
  live.subscribe(() => undefined); // held for the whole test: the server subscription lives while someone listens
  await valueWhere(live, (r) => r.values.map((t) => t.id).join() === 'm,p', 'the first page');
  // A team that enters at the front of the page comes first, not last (arrival order).
  client.set('Score', score('w-a', 'a', 1));
  const r: QueryResult<Tally> = await valueWhere(live, (x) => x.items.has('a'), 'a on the page');
  assert.deepEqual(r.values.map((t) => t.id), ['a', 'm']);
  assert.equal(r.totalCount, 4);
  assert.ok(!r.items.has('p'), 'p left the page');
  const resp = rec.received.filter((f) => f.event === 'ws:m:view-response').at(-1)!;
  assert.deepEqual(resp.data.changes[0].ids, ['a', 'm']);
  live.setWindow({ offset: 2, limit: 2 });
  assert.equal(rec.sent.at(-1)!.event, 'ws:m:view-window');
  await valueWhere(live, (x) => x.values.map((t) => t.id).join() === 'p,t', 'the second page');
  live.setWindow(undefined);
  const whole = await valueWhere(live, (x) => x.items.size === 4, 'the whole view');
  assert.equal(whole.sequence, 0, 'removing the window answers a fresh sequence 0');
  client.close();
});

test('after a reconnect, a live view is re-sent with its tx and resumes; its sequence-0 answer replaces what was held', async () => {
  const dataDir = tempDir('myko-client-views-');
  dirs.push(dataDir);
  const port = await freePort();
  let ts = await startTestServer({ plugins, dataDir, config: { port } });
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  client.set('Score', score('r1', 'gold', 2));
  client.set('Score', score('r2', 'jade', 2));
  const live = client.watchView(view<Tally>('GetTeamTallies', 'TeamTally'));
  live.subscribe(() => undefined);
  await valueWhere(live, (r) => r.items.size === 2, 'two tallies');
  const tx = rec.sent.find((f) => f.event === 'ws:m:view')!.data.view.tx;

  await ts.close();
  // While the server is down the data changes under the client's feet: another writer, through a server on
  // another port that the client cannot reach. (Written after the restart instead, the change raced the
  // client's reconnect: when the reconnect won, the change came as a diff after the sequence-0 answer.)
  const elsewhere = await startTestServer({ plugins, dataDir });
  await elsewhere.server.ctx.emit([{ itemType: 'Score', changeType: 'DEL', item: { id: 'r2' } }], { serverId: elsewhere.server.ctx.serverId });
  await elsewhere.close();
  ts = await startTestServer({ plugins, dataDir, config: { port } });
  servers.add(ts);
  const after = await valueWhere(live, (r) => r.items.size === 1 && r.items.has('gold'), 'the view after the restart (jade gone)');
  assert.equal(after.sequence, 0);
  const resent = rec.sent.filter((f) => f.event === 'ws:m:view');
  assert.equal(resent.length, 2);
  assert.equal(resent[1]!.data.view.tx, tx, 'the same tx');
  client.set('Score', score('r3', 'gold', 5));
  await valueWhere(live, (r) => r.items.get('gold')?.total === 7, 'a later change');
  client.close();
});
