import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { startTestServer, TestClient, sleep, testPostgres, type AnyFrame, type TestServer, liveResult } from '../testing/index.js';
import { definePlugin, defineView } from '../core/registry.js';

/**
 * Windback (WIRE.md 6.5; live/windback.ts): a wound-back client's live
 * query, view and report answer the past at sequence 0, its writes are
 * refused with MYKO_WOUND_BACK, another client is not touched, and Clear
 * answers again from live state at sequence 0.
 */

const levels = defineView<Record<string, never>, MItem>({
  id: 'GetFaderLevels',
  itemType: 'FaderLevel',
  dependsOn: () => ['Fader'],
  build: (_p, state) => [...state.all('Fader')].map((f) => ({ id: f.id, level: f.level })),
});
const plugins = [definePlugin({ name: 'windback-test', views: [levels] })];

const levelsOf = (m: Map<string, any>) => Object.fromEntries([...m].map(([id, item]) => [id, item.level]).sort());
const isResp = (event: string, tx: string, seq?: number) => (f: AnyFrame) =>
  f.event === event && f.data?.tx === tx && (seq === undefined || f.data.sequence === seq);

function watch(c: TestClient): void {
  c.send({ event: 'ws:m:query', data: { queryId: 'GetAllFaders', queryItemType: 'Fader', query: { tx: 'q' } } });
  c.send({ event: 'ws:m:view', data: { viewId: 'GetFaderLevels', viewItemType: 'FaderLevel', view: { tx: 'v' } } });
  c.send({ event: 'ws:m:report', data: { reportId: 'CountAllFaders', report: { tx: 'r' } } });
}

async function command(c: TestClient, commandId: string, params: Record<string, unknown> = {}): Promise<AnyFrame> {
  const tx = `${commandId}-${Math.random().toString(36).slice(2)}`;
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  return c.next((f) => (f.event === 'ws:m:command-response' || f.event === 'ws:m:command-error') && f.data?.tx === tx, 10_000);
}

function set(c: TestClient, id: string, level: number): void {
  c.send({ event: 'ws:m:event', data: { itemType: 'Fader', changeType: 'SET', item: { id, level } } });
}

async function scenario(ts: TestServer): Promise<void> {
  const w = await TestClient.connect(ts.url); // winds back
  const o = await TestClient.connect(ts.url); // stays live
  set(o, 'f1', 1);
  set(o, 'f2', 2);
  await o.sync();
  await sleep(30);
  const t = new Date().toISOString();
  await sleep(30);
  set(o, 'f0', 0);
  set(o, 'f1', 9);
  set(o, 'f3', 3);
  o.send({ event: 'ws:m:event', data: { itemType: 'Fader', changeType: 'DEL', item: { id: 'f2' } } });
  await o.sync();
  watch(w);
  watch(o);
  await w.next(isResp('ws:m:report-response', 'r'));
  await o.next(isResp('ws:m:report-response', 'r'));
  assert.deepEqual(levelsOf(liveResult(w, 'q')), { f0: 0, f1: 9, f3: 3 });
  const oFrames = o.frames.length;

  // Wind back: every live result of w answers again, at sequence 0, from the state at t; before the command's response.
  const mark = w.frames.length;
  const ok = await command(w, 'SetClientWindbackTime', { windback: t });
  assert.equal(ok.event, 'ws:m:command-response', JSON.stringify(ok.data));
  const q0 = w.frames.slice(mark).find(isResp('ws:m:query-response', 'q'));
  const v0 = w.frames.slice(mark).find(isResp('ws:m:view-response', 'v'));
  const r0 = w.frames.slice(mark).find(isResp('ws:m:report-response', 'r'));
  assert.equal(q0?.data.sequence, 0, 'the query answers again at sequence 0');
  assert.equal(v0?.data.sequence, 0, 'the view answers again at sequence 0');
  assert.deepEqual(levelsOf(liveResult(w, 'q', { from: mark })), { f1: 1, f2: 2 }, 'the query shows the past');
  assert.deepEqual(levelsOf(liveResult(w, 'v', { event: 'ws:m:view-response', from: mark })), { f1: 1, f2: 2 }, 'the view shows the past');
  assert.deepEqual(r0?.data.response, { count: 2 }, 'the report shows the past');
  const status = await (async () => {
    w.send({ event: 'ws:m:report', data: { reportId: 'WindbackStatus', report: { tx: 'wb' } } });
    return (await w.next(isResp('ws:m:report-response', 'wb'))).data.response;
  })();
  assert.deepEqual(status, { windback: t });
  // A query started while wound back answers the past too.
  w.send({ event: 'ws:m:query', data: { queryId: 'GetFadersByQuery', queryItemType: 'Fader', query: { tx: 'q2', id: 'f2' } } });
  await w.next(isResp('ws:m:query-response', 'q2'));
  assert.deepEqual(levelsOf(liveResult(w, 'q2')), { f2: 2 });

  // The other client is untouched and stays live; the wound-back one gets no live diffs.
  const wAfter = w.frames.length;
  set(o, 'f4', 4);
  await o.next(isResp('ws:m:query-response', 'q', 1), 3000, oFrames);
  assert.equal(o.frames.slice(oFrames).filter((f) => f.data?.sequence === 0).length, 0, 'no sequence 0 for the other client');
  assert.deepEqual(levelsOf(liveResult(o, 'q')), { f0: 0, f1: 9, f3: 3, f4: 4 });
  await w.sync();
  await sleep(50);
  assert.deepEqual(w.frames.slice(wAfter).filter((f) => ['ws:m:query-response', 'ws:m:view-response', 'ws:m:report-response'].includes(f.event)), []);

  // Writes from the wound-back client are refused, and nothing of them is stored.
  set(w, 'f1', 77);
  const err = await w.next((f) => f.event === 'ws:m:error');
  assert.equal(err.data.code, 'MYKO_WOUND_BACK');
  assert.match(err.data.message, /wound back/);
  const del = await command(w, 'DeleteFader', { id: 'f3' });
  assert.equal(del.event, 'ws:m:command-error');
  assert.equal(del.data.code, 'MYKO_WOUND_BACK');
  assert.equal(ts.server.state.get('Fader', 'f1')?.level, 9);
  assert.ok(ts.server.state.get('Fader', 'f3'));

  // Clear: back to live state, sequence 0 again, then live diffs.
  const back = w.frames.length;
  const cleared = await command(w, 'ClearClientWindbackTime');
  assert.equal(cleared.event, 'ws:m:command-response');
  assert.equal(w.frames.slice(back).find(isResp('ws:m:query-response', 'q'))?.data.sequence, 0);
  assert.equal(w.frames.slice(back).find(isResp('ws:m:view-response', 'v'))?.data.sequence, 0);
  assert.deepEqual(levelsOf(liveResult(w, 'q', { from: back })), { f0: 0, f1: 9, f3: 3, f4: 4 });
  assert.deepEqual(levelsOf(liveResult(w, 'v', { event: 'ws:m:view-response', from: back })), { f0: 0, f1: 9, f3: 3, f4: 4 });
  assert.deepEqual(w.frames.slice(back).filter(isResp('ws:m:report-response', 'r')).at(-1)?.data.response, { count: 4 });
  set(w, 'f5', 5); // writes are accepted again
  await w.next(isResp('ws:m:query-response', 'q', 1), 3000, back);
  assert.deepEqual(levelsOf(liveResult(w, 'q', { from: back })), { f0: 0, f1: 9, f3: 3, f4: 4, f5: 5 });
  await w.close();
  await o.close();
}

test('windback: a client\'s live query, view and report answer the past; its writes are refused; Clear returns to live (SQLite)', async () => {
  const ts = await startTestServer({ plugins });
  try {
    await scenario(ts);
  } finally {
    await ts.close();
  }
});

test('windback works the same on PostgreSQL', async (t) => {
  const db = await testPostgres();
  if (!db) return t.skip('no PostgreSQL');
  const ts = await startTestServer({ plugins, config: { postgresUrl: db.url, postgresSchema: db.schema } });
  try {
    await scenario(ts);
  } finally {
    await ts.close();
    await db.drop();
  }
});
