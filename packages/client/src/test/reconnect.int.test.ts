import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { defineCommand, definePlugin } from '@myko/server';
import { exited, sleep, spawnServer, startTestServer, tempDir, type TestServer } from '@myko/server/testing';
import {
  backoffDelay,
  ClientErrorCode,
  getAll,
  isCommandAbortedError,
  isCommandError,
  isCommandTimeoutError,
  isConnectionLostError,
  isQueueFullError,
  type ConnectionStatus,
  type QueryChange,
  type QueryResult,
} from '../node.js';
import { closeClients, freePort, recorder, testClient, valueWhere, waitFor } from './support.js';

// Whatever happens in a test, no child server, in-process server or client outlives this file.
const procs = new Set<ChildProcess>();
const servers = new Set<TestServer>();
const dirs: string[] = [];
after(async () => {
  closeClients();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all([...procs].map((p) => exited(p)));
  await Promise.all([...servers].map((s) => s.close().catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function spawn(dataDir: string, port: number) {
  const s = await spawnServer({ dataDir, port });
  procs.add(s.proc);
  return s;
}

const noDuplicates = (r: QueryResult) => r.values.length === r.items.size && r.items.size === r.totalCount;

test('kill -9 and restart: the client reconnects, re-sends the live query and report with their tx, replaces its copy, sends what was queued, and gets later changes', async () => {
  const dataDir = tempDir('myko-client-reconnect-');
  dirs.push(dataDir);
  const port = await freePort();
  let srv = await spawn(dataDir, port);

  const rec = recorder();
  const client = testClient({ url: srv.url, transport: rec.transport });
  const statuses: ConnectionStatus[] = [];
  client.status.subscribe((s) => statuses.push(s));
  const first = await client.connected();

  const live = client.watchQuery(getAll('Cue'));
  const results: QueryResult[] = [];
  live.subscribe((r) => results.push(r));
  const changes: QueryChange[] = [];
  const diffs = client.watchQueryDiff(getAll('Cue'));
  diffs.subscribe((c) => changes.push(c));
  // A report live before the crash: it must come back on its own, with its tx, like the query.
  const liveCount = client.watchCount('Cue');
  const cueCounts: number[] = [];
  liveCount.subscribe((n) => cueCounts.push(n));
  for (const id of ['c1', 'c2', 'c3']) client.set('Cue', { id, label: id });
  await valueWhere(live, (r) => r.items.size === 3, 'three cues before the crash');
  await waitFor(() => cueCounts.at(-1) === 3, 'the count report before the crash');
  const tx = rec.sent.find((f) => f.event === 'ws:m:query')!.data.query.tx as string;
  const reportTx = rec.sent.find((f) => f.event === 'ws:m:report')!.data.report.tx as string;

  srv.proc.kill('SIGKILL');
  await exited(srv.proc);
  const receivedBeforeRestart = rec.received.length;
  await client.status.until((s) => s.type === 'reconnecting');
  // Made while the server is down: queued, sent after the reconnect, before the re-subscription.
  client.set('Cue', { id: 'c4', label: 'made offline' });
  client.del('Cue', { id: 'c1' });
  client.set('Desk', { id: 'd1' });
  // A command made while down is queued too; the answer (here: no such command) comes from the new server.
  const queued = client.sendCommand('NoSuchCommand', { n: 1 }).catch((e: unknown) => e);
  // A report watched while down (another type, so it does not share the one above) is sent once the new socket opens.
  const counts: number[] = [];
  client.watchCount('Desk').subscribe((n) => counts.push(n));

  srv = await spawn(dataDir, port);
  const again = await client.connected();
  assert.notEqual(again.clientId, first.clientId, 'a new connection, a new client id');
  assert.equal(client.clientId, again.clientId);

  const after = await valueWhere(live, (r) => r.items.has('c4') && !r.items.has('c1'), 'the result after the restart');
  assert.deepEqual([...after.items.keys()].sort(), ['c2', 'c3', 'c4']);
  assert.ok(noDuplicates(after));

  const answer = await queued;
  assert.ok(isCommandError(answer), `a queued command is answered after the reconnect, got ${String(answer)}`);
  assert.equal(answer.code, 'MYKO_UNKNOWN_COMMAND');
  await waitFor(() => counts.at(-1) === 1, 'the report made while down');

  const queries = rec.sent.filter((f) => f.event === 'ws:m:query');
  assert.equal(queries.length, 2, 'sent once per connection, shared by both watchers');
  assert.equal(queries[1]!.data.query.tx, tx, 'the same tx after the reconnect');
  const i2 = rec.sent.indexOf(queries[1]!);
  assert.deepEqual(
    rec.sent.slice(i2 - 2, i2 + 3).map((f) => f.event),
    ['ws:m:event-batch', 'ws:m:command', 'ws:m:query', 'ws:m:report', 'ws:m:report'],
    'on the new socket: what was queued, in order, then the subscriptions',
  );
  // The report that was live before the crash is re-sent first, with its original tx, and the new
  // server answers that tx with the count after the offline set/del (c1 gone, c4 added: still 3).
  const reports = rec.sent.filter((f) => f.event === 'ws:m:report');
  assert.deepEqual(
    reports.map((f) => [f.data.reportId, f.data.report.tx]),
    [
      ['GetCuesCount', reportTx],
      ['GetCuesCount', reportTx],
      ['GetDesksCount', reports[2]!.data.report.tx],
    ],
    'the pre-crash report once per connection, same tx; the offline one once',
  );
  const resumed = rec.received.slice(receivedBeforeRestart).filter((f) => f.event === 'ws:m:report-response' && f.data.tx === reportTx);
  assert.ok(resumed.length >= 1, 'the new server answers the pre-crash report under its original tx');
  assert.equal(resumed[0]!.data.response, 3);
  assert.equal(cueCounts.at(-1), 3);

  // The diff watcher was told to replace, not merge: a reset after the reconnect.
  const resets = changes.filter((c) => c.reset);
  assert.equal(resets.length, 2);
  assert.ok(results.every(noDuplicates), 'no result ever held an id twice or disagreed with totalCount');

  client.set('Cue', { id: 'c5', label: 'later' });
  const later = await valueWhere(live, (r) => r.items.has('c5'), 'a change after the reconnect');
  assert.equal(later.items.size, 4);
  // Still live on the new server: the pre-crash report follows later changes too.
  await waitFor(() => cueCounts.at(-1) === 4, 'the pre-crash report to see c5');
  assert.equal(liveCount.current, 4);

  const kinds = statuses.map((s) => s.type);
  const i = kinds.indexOf('disconnected');
  assert.deepEqual(kinds.slice(0, 2), ['connecting', 'connected']);
  assert.deepEqual(kinds.slice(i, i + 2), ['disconnected', 'reconnecting']);
  assert.equal(kinds.at(-1), 'connected');
  client.close();
  srv.proc.kill('SIGKILL');
  await exited(srv.proc);
});

test('failover: with urls [a, b], stopping a moves the client to b, and the query result becomes b\'s (replaced, not merged)', async () => {
  const slow = definePlugin({ name: 'slow', commands: [defineCommand({ id: 'Slow', handler: async () => (await sleep(2000), 1) })] });
  const a = await startTestServer({ plugins: [slow] });
  const b = await startTestServer();
  servers.add(a).add(b);
  await a.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'only-on-a' } });
  await b.server.emit([
    { itemType: 'Cue', changeType: 'SET', item: { id: 'on-b-1' } },
    { itemType: 'Cue', changeType: 'SET', item: { id: 'on-b-2' } },
  ]);

  const client = testClient({ urls: [a.url, b.url] });
  const seen: ConnectionStatus[] = [];
  const iterating = (async () => {
    for await (const s of client.status) seen.push(s);
  })();
  const onA = await client.connected();
  assert.equal(onA.url, a.url);
  const live = client.watchQuery(getAll('Cue'));
  live.subscribe(() => undefined);
  await valueWhere(live, (r) => r.items.has('only-on-a'), 'a\'s cue');

  // In flight when a goes away: it may or may not have run, so it fails rather than being re-sent.
  const inFlight = client.sendCommand('Slow', {}).catch((e: unknown) => e);
  await sleep(20);
  await a.close();
  servers.delete(a);
  const lost = await inFlight;
  assert.ok(isConnectionLostError(lost), String(lost));
  assert.equal(lost.url, a.url);
  const onB = await client.status.until((s) => s.type === 'connected' && s.url === b.url);
  assert.equal(onB.type, 'connected');
  const r = await valueWhere(live, (x) => x.items.has('on-b-1'), 'b\'s cues');
  assert.deepEqual([...r.items.keys()].sort(), ['on-b-1', 'on-b-2']);
  assert.ok(noDuplicates(r));

  client.close();
  await iterating; // the status iterator ends after `closed`
  const kinds = seen.map((s) => s.type);
  assert.deepEqual(kinds.slice(0, 2), ['connecting', 'connected']);
  assert.ok(kinds.includes('disconnected') && kinds.includes('reconnecting'));
  assert.equal(kinds.at(-1), 'closed');
});

test('while disconnected: at most maxQueuedFrames wait (QueueFullError beyond); a command that times out or is aborted there is taken out and never sent', async () => {
  const ran: number[] = [];
  const marks = definePlugin({
    name: 'marks',
    commands: [defineCommand<{ n?: unknown }, number>({ id: 'Mark', handler: (p) => (ran.push(Number(p.n)), Number(p.n)) })],
  });
  const port = await freePort(); // nothing listens there yet
  const rec = recorder();
  const client = testClient({ url: `ws://127.0.0.1:${port}/myko`, transport: rec.transport, maxQueuedFrames: 3 });

  const timesOut = client.sendCommand('Mark', { n: 1 }, { timeoutMs: 150 }).catch((e: unknown) => e);
  const ac = new AbortController();
  const aborted = client.sendCommand('Mark', { n: 2 }, { signal: ac.signal }).catch((e: unknown) => e);
  // Five events of one tick share one batch frame: they fit in the third and last place.
  for (let i = 0; i < 5; i++) client.set('Crate', { id: `cr${i}` });
  // The outbox is full: a command is refused with QueueFullError (after the events took their place) ...
  const refused = await client.sendCommand('Mark', { n: 3 }).catch((e: unknown) => e);
  assert.ok(isQueueFullError(refused), `a fourth frame is refused, got ${String(refused)}`);
  assert.equal(refused.code, ClientErrorCode.QueueFull);
  assert.equal(refused.limit, 3);
  // ... and so is an event, synchronously.
  assert.throws(
    () => client.set('Crate', { id: 'refused' }),
    (e: unknown) => isQueueFullError(e),
  );

  // Given up while still queued: both leave the outbox, which makes room again.
  ac.abort(new Error('changed my mind'));
  assert.ok(isCommandAbortedError(await aborted));
  const t = await timesOut;
  assert.ok(isCommandTimeoutError(t), String(t));
  const answered = client.sendCommand('Mark', { n: 4 });
  await Promise.resolve();
  client.set('Crate', { id: 'cr5' });
  await Promise.resolve();
  assert.ok(isQueueFullError(await client.sendCommand('Mark', { n: 5 }).catch((e: unknown) => e)), 'full again: 2 freed, 2 taken');
  assert.equal(rec.sent.length, 0, 'nothing written while disconnected');

  const ts = await startTestServer({ plugins: [marks], config: { port } });
  servers.add(ts);
  assert.equal(await answered, 4, 'the command queued after the others left is sent and answered');
  await waitFor(() => ts.server.state.count('Crate') === 6, 'the queued events (cr0-cr5)');
  assert.equal(ts.server.state.get('Crate', 'refused'), undefined);
  assert.deepEqual(ran, [4], 'the timed-out, aborted and refused commands never reached the server');
  const commands = rec.sent.filter((f) => f.event === 'ws:m:command');
  assert.deepEqual(commands.map((f) => f.data.command.n), [4]);
  assert.deepEqual(
    rec.sent.slice(0, 3).map((f) => [f.event, f.event === 'ws:m:command' ? f.data.command.n : f.data.length]),
    [
      ['ws:m:event-batch', 5],
      ['ws:m:command', 4],
      ['ws:m:event-batch', 1],
    ],
    'the outbox, in order, is what was left in it',
  );
  client.close();
});

test('backoff: delays grow exponentially to the cap, with jitter; maxAttempts gives up (closed) and rejects waiters', async () => {
  const r = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxAttempts: Infinity };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(r, n, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([1, 2, 3].map((n) => backoffDelay(r, n, () => 1)), [50, 100, 200]);

  const port = await freePort(); // nothing listens there
  const client = testClient({
    url: `ws://127.0.0.1:${port}/myko`,
    reconnect: { initialDelayMs: 10, maxDelayMs: 40, factor: 2, jitter: 0, maxAttempts: 4 },
  });
  const delays: number[] = [];
  client.status.subscribe((s) => s.type === 'reconnecting' && delays.push(s.delayMs));
  await assert.rejects(client.connected(), /closed before it connected/);
  assert.deepEqual(delays, [10, 20, 40, 40]);
  assert.equal(client.status.current.type, 'closed');
});

test('token is sent as ?access_token= on the URL; contradictory options are refused up front', async () => {
  const ts = await startTestServer();
  servers.add(ts);
  const urls: string[] = [];
  const rec = recorder();
  const client = testClient({
    url: ts.url,
    token: 'tok en',
    transport: (url, h) => (urls.push(url), rec.transport(url, h)),
  });
  const s = await client.connected();
  assert.equal(new URL(urls[0]!).searchParams.get('access_token'), 'tok en');
  assert.equal(s.url, ts.url, 'statuses show the address without the token');
  client.close();
  assert.throws(() => testClient({ url: ts.url, urls: [ts.url] }), /not both/);
  assert.throws(() => testClient({ urls: [] }), /server address/);
  assert.throws(() => testClient({ url: 'http://x' }), /WebSocket URL/);
  assert.throws(() => testClient({ url: ts.url, reconnect: { initialDelayMs: 10, maxDelayMs: 1 } }), /initialDelayMs/);
  await waitFor(() => ts.server.connections.size === 0, 'the socket to close');
});
