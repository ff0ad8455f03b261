import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '@myko/server/testing';
import {
  byIds,
  byQuery,
  getAll,
  isQueryError,
  isReportError,
  itemType,
  QueryError,
  type LiveQuery,
  type LiveReport,
  type MykoClient,
  type QueryResult,
  type ReportSpec,
} from '../node.js';
import { closeClients, recorder, testClient, valueWhere, waitFor } from './support.js';

/** A plain interface (no index signature): the generics accept it. */
interface Cue {
  id: string;
  label: string;
  hash?: string;
}

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  closeClients();
  await ts.close();
});

const ids = (r: QueryResult<Cue>) => [...r.items.keys()].sort();

test('watchQuery: snapshot then changes; equal queries share one server subscription; the last unsubscribe cancels it', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  await client.connected();
  client.set<Cue>('Show', { id: 'a', label: 'A' });

  const q1 = client.watchQuery<Cue>(getAll('Show'));
  const q2 = client.watchQuery<Cue>({ queryId: 'GetAllShows', queryItemType: 'Show' });
  const seen1: QueryResult<Cue>[] = [];
  const seen2: QueryResult<Cue>[] = [];
  const un1 = q1.subscribe((r) => seen1.push(r));
  const un2 = q2.subscribe((r) => seen2.push(r));
  await waitFor(() => seen1.at(-1)?.items.has('a') === true && seen2.at(-1)?.items.has('a') === true, 'first result');
  const queries = rec.sent.filter((f) => f.event === 'ws:m:query');
  assert.equal(queries.length, 1, 'one ws:m:query for two equal watchers');
  const tx = queries[0]!.data.query.tx as string;
  assert.deepEqual(queries[0]!.data, { queryId: 'GetAllShows', queryItemType: 'Show', query: { tx } });
  assert.equal(ts.server.ctx.queries.size, 1);

  client.set<Cue>('Show', { id: 'b', label: 'B' });
  client.del('Show', { id: 'a' });
  await waitFor(() => JSON.stringify(ids(seen1.at(-1)!)) === '["b"]' && JSON.stringify(ids(seen2.at(-1)!)) === '["b"]', 'the set and the del');
  const last = q1.current!;
  assert.equal(last.totalCount, 1);
  assert.equal(last.values[0]!.label, 'B'); // typed: Cue
  assert.equal(last.values.length, last.items.size);

  // A late watcher of the same query gets the current result at once, without a new request.
  const late = await client.watchQuery<Cue>(getAll('Show')).first();
  assert.deepEqual(ids(late), ['b']);
  assert.equal(rec.sent.filter((f) => f.event === 'ws:m:query').length, 1);

  un1();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(rec.sent.filter((f) => f.event === 'ws:m:query-cancel').length, 0, 'still watched by q2');
  un2();
  await waitFor(() => rec.sent.some((f) => f.event === 'ws:m:query-cancel'), 'the cancel');
  assert.deepEqual(rec.sent.find((f) => f.event === 'ws:m:query-cancel')!.data, { tx });
  await waitFor(() => ts.server.ctx.queries.size === 0, 'the server to drop the query');
  client.close();
});

test('byIds and byQuery helpers; a windowed query moves with setWindow (ws:m:query-window)', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  await ts.server.emit(
    ['c1', 'c2', 'c3', 'c4', 'c5'].map((id, i) => ({ itemType: 'Cue', changeType: 'SET' as const, item: { id, label: i % 2 ? 'odd' : 'even' } })),
  );
  const some = await client.watchQuery<Cue>(byIds('Cue', ['c1', 'c3', 'nope'])).first();
  assert.deepEqual(ids(some), ['c1', 'c3']);
  const even = await client.watchQuery<Cue>(byQuery<Cue>('Cue', { label: 'even' })).first();
  assert.deepEqual(ids(even), ['c1', 'c3', 'c5']);

  const page = client.watchQuery<Cue>(getAll('Cue', { offset: 0, limit: 2 }));
  const stop = page.subscribe(() => undefined);
  const p1 = await valueWhere(page, (r) => r.items.size === 2, 'first page');
  assert.deepEqual(p1.values.map((c) => c.id), ['c1', 'c2']);
  assert.equal(p1.totalCount, 5);
  assert.deepEqual(p1.window, { offset: 0, limit: 2 });

  page.setWindow({ offset: 2, limit: 2 });
  const p2 = await valueWhere(page, (r) => r.window?.offset === 2, 'second page');
  assert.deepEqual(p2.values.map((c) => c.id), ['c3', 'c4']);
  assert.equal(p2.totalCount, 5);
  const moved = rec.sent.find((f) => f.event === 'ws:m:query-window')!;
  assert.deepEqual(moved.data, { tx: rec.sent.find((f) => f.event === 'ws:m:query' && f.data.window)!.data.query.tx, window: { offset: 2, limit: 2 } });

  // A change inside the window arrives as a diff of the window.
  await ts.server.emit({ itemType: 'Cue', changeType: 'SET', item: { id: 'c3', label: 'changed' } });
  const p3 = await valueWhere(page, (r) => r.items.get('c3')?.label === 'changed', 'the change in the window');
  assert.deepEqual(p3.values.map((c) => c.id), ['c3', 'c4']);
  stop();
  client.close();
});

test('ws:m:query-error rejects the watcher (callback, first(), iterator) with the server message', async () => {
  const client = testClient({ url: ts.url });
  const bad = { queryId: 'GetCuesByIds', queryItemType: 'Cue', params: { ids: 'not-a-list' } };
  const err = await client.watchQuery(bad).first().then(
    () => assert.fail('should reject'),
    (e: unknown) => e,
  );
  assert.ok(isQueryError(err));
  assert.ok(err instanceof QueryError);
  assert.equal(err.name, 'QueryError');
  assert.equal(err.queryId, 'GetCuesByIds');
  assert.match(err.message, /ids must be an array/);

  const viaCallback = await new Promise<Error>((resolve) => client.watchQuery(bad).subscribe(() => undefined, resolve));
  assert.ok(isQueryError(viaCallback));

  await assert.rejects(async () => {
    for await (const _ of client.watchQuery(bad)) assert.fail('no result expected');
  }, /ids must be an array/);
  client.close();
});

test('watchQueryDiff gives raw diffs: a reset snapshot first, then upserts and deletes; a late watcher catches up', async () => {
  const client = testClient({ url: ts.url });
  await ts.server.emit({ itemType: 'Lamp', changeType: 'SET', item: { id: 'l1', on: false } });
  const diffs = client.watchQueryDiff<Cue>(getAll('Lamp'));
  const it = diffs[Symbol.asyncIterator]();
  const first = (await it.next()).value!;
  assert.equal(first.reset, true);
  assert.equal(first.sequence, 0);
  assert.deepEqual(first.upserts.map((i) => i.id), ['l1']);

  client.set('Lamp', { id: 'l2', on: true });
  const second = (await it.next()).value!;
  assert.equal(second.reset, false);
  assert.equal(second.sequence, 1);
  assert.deepEqual(second.upserts, [{ id: 'l2', on: true, hash: second.upserts[0]!.hash }]);

  client.del('Lamp', { id: 'l1' });
  const third = (await it.next()).value!;
  assert.deepEqual(third.deletes, ['l1']);
  assert.equal(third.totalCount, 1);

  const late = await client.watchQueryDiff(getAll('Lamp')).first();
  assert.equal(late.reset, true);
  assert.deepEqual(late.upserts.map((i) => i.id), ['l2']);
  await it.return!();
  client.close();
});

test('async iteration: break cancels the subscription; close() ends open iterators', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  for await (const r of client.watchQuery(getAll('Cue'))) {
    assert.ok(r.totalCount >= 0);
    break;
  }
  await waitFor(() => rec.sent.some((f) => f.event === 'ws:m:query-cancel'), 'the cancel after break');

  const q = client.watchQuery(getAll('Show'));
  const loop = (async () => {
    let n = 0;
    for await (const _ of q) n++;
    return n;
  })();
  await waitFor(() => q.current !== undefined, 'a first result');
  client.close();
  assert.ok((await loop) >= 1, 'the loop ended after close()');
});

test('reports: a live count (Get${X}sCount) follows sets and deletes; shared; the last unsubscribe cancels; an unknown report errors', async () => {
  const rec = recorder();
  const client = testClient({ url: ts.url, transport: rec.transport });
  const count = client.watchCount('Widget');
  const seen: number[] = [];
  const stop = count.subscribe((n) => seen.push(n));
  await waitFor(() => seen.length > 0, 'the first count');
  assert.equal(seen[0], 0);
  client.set('Widget', { id: 'w1' });
  client.set('Widget', { id: 'w2' });
  await waitFor(() => seen.at(-1) === 2, 'count 2');
  client.del('Widget', { id: 'w1' });
  await waitFor(() => seen.at(-1) === 1, 'count 1');
  assert.equal(count.current, 1);

  const same = await client.watchReport<number>({ reportId: 'GetWidgetsCount' }).first();
  assert.equal(same, 1);

  const err = await client.watchReport({ reportId: 'NoSuchReport' }).first().catch((e: unknown) => e);
  assert.ok(isReportError(err));
  assert.equal(err.reportId, 'NoSuchReport');
  assert.match(err.message, /unknown report/);
  const reports = rec.sent.filter((f) => f.event === 'ws:m:report');
  assert.deepEqual(reports[0]!.data, { reportId: 'GetWidgetsCount', report: { tx: reports[0]!.data.report.tx } });
  assert.equal(reports.filter((f) => f.data.reportId === 'GetWidgetsCount').length, 1, 'watchCount and watchReport shared one');
  stop();
  await waitFor(() => rec.sent.some((f) => f.event === 'ws:m:report-cancel'), 'the report cancel');
  assert.deepEqual(rec.sent.find((f) => f.event === 'ws:m:report-cancel')!.data, { tx: reports[0]!.data.report.tx });
  client.close();
});

/** Another plain item type, to show that query types are not interchangeable. */
interface Lamp {
  id: string;
  level: number;
}

test('typed item-type refs: set(ref, item) and getAll/byIds/byQuery/watchCount(ref) against the server', async () => {
  const CueType = itemType<Cue>('TypedCue');
  assert.equal(CueType.name, 'TypedCue');
  assert.throws(() => itemType(''), /non-empty name/);
  const client = testClient({ url: ts.url });
  client.set(CueType, { id: 't1', label: 'one' });
  client.set(CueType, { id: 't2', label: 'two' });
  const all = await valueWhere(client.watchQuery(getAll(CueType)), (r) => r.items.size === 2, 'both typed cues');
  assert.deepEqual(all.values.map((c) => c.label).sort(), ['one', 'two']); // c: Cue, inferred from the ref
  const one = await client.watchQuery(byIds(CueType, ['t2'])).first();
  assert.equal(one.items.get('t2')!.label, 'two');
  const byLabel = await client.watchQuery(byQuery(CueType, { label: 'one' })).first();
  assert.deepEqual([...byLabel.items.keys()], ['t1']);
  assert.equal(await valueWhere(client.watchCount(CueType), (n) => n === 2, 'the count by ref'), 2);
  client.del(CueType, { id: 't1' });
  await valueWhere(client.watchCount(CueType), (n) => n === 1, 'the count after del(ref)');
  client.close();
});

test('typed results: item and report types flow to results, callbacks, iterators and diffs (compile-time)', () => {
  // Compile-time only: never called. Each `@ts-expect-error` fails the build if its line were
  // accepted, which is what happens when a result degrades to `any` or to the wrong type.
  const typed = async (client: MykoClient) => {
    const CueType = itemType<Cue>('Cue');

    // Query results carry the spec's item type, given by a ref or by a type argument.
    const q = client.watchQuery(getAll(CueType));
    const r = await q.first();
    const label: string = r.values[0]!.label;
    // @ts-expect-error label is a string
    const asNumber: number = r.values[0]!.label;
    // @ts-expect-error Cue has no field `level`
    void r.items.get('a')!.level;
    // @ts-expect-error a Cue query is not a Lamp query
    const lamps: LiveQuery<Lamp> = client.watchQuery(getAll(CueType));
    q.subscribe((res) => {
      // @ts-expect-error the callback's items are Cues
      const n: number = res.items.get('a')!.label;
      void n;
    });
    for await (const res of client.watchQuery<Cue>(byIds('Cue', ['a']))) {
      // @ts-expect-error the iterator's values are Cues
      const n: number = res.values[0]!.label;
      void n;
    }
    const explicit = await client.watchQuery<Lamp>({ queryId: 'GetLampsByIds', queryItemType: 'Lamp', params: { ids: ['l'] } }).first();
    const level: number = explicit.values[0]!.level;
    // @ts-expect-error a Lamp has no label
    void explicit.values[0]!.label;

    // Diffs too.
    const d = await client.watchQueryDiff(byQuery(CueType, { label: 'x' })).first();
    // @ts-expect-error upserts are Cues
    const dn: number = d.upserts[0]!.label;

    // Reports carry their value type: counts are numbers, a declared spec its own type.
    const count = await client.watchCount(CueType).first();
    // @ts-expect-error a count is a number
    const countText: string = count;
    interface Totals {
      lamps: number;
      dimmed: string[];
    }
    const totalsSpec: ReportSpec<Totals> = { reportId: 'GetTotals' };
    const totals = client.watchReport(totalsSpec);
    const t = await totals.first();
    const lampCount: number = t.lamps;
    // @ts-expect-error lamps is a number
    const lampText: string = t.lamps;
    // @ts-expect-error Totals has no field `nothing`
    void t.nothing;
    totals.subscribe((v) => {
      // @ts-expect-error the callback's value is Totals
      const s: string = v.dimmed;
      void s;
    });
    // @ts-expect-error a Totals report is not a number report
    const asCount: LiveReport<number> = client.watchReport(totalsSpec);

    // A ref checks the item given to set().
    client.set(CueType, { id: 'a', label: 'x' });
    // @ts-expect-error label must be a string
    client.set(CueType, { id: 'a', label: 1 });
    // @ts-expect-error a Cue needs its label
    client.set(CueType, { id: 'a' });
    // @ts-expect-error a Lamp is not a Cue
    client.set(CueType, { id: 'a', level: 3 } as Lamp);
    // Strings stay untyped unless a type argument is given, as before.
    client.set('Cue', { id: 'a', anything: true });
    // @ts-expect-error with a type argument the item is checked
    client.set<Cue>('Cue', { id: 'a', label: 2 });
    client.del(CueType, { id: 'a' });
    return [label, asNumber, lamps, level, dn, countText, lampCount, lampText, asCount];
  };
  assert.equal(typeof typed, 'function');
});
