import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { EventStore, NewEvent } from './event-store.js';
import { SqliteEventStore } from './sqlite/index.js';
import { PostgresEventStore } from './postgres/index.js';
import { IdentityTracker } from '../core/identity.js';
import { runImport } from '../cli/log-commands.js';
import { tempDir, testPostgres } from '../testing/index.js';

/**
 * `myko import` is all or nothing on each backend: SQLite runs it in one
 * transaction, PostgreSQL deletes what it appended. A bad line after the first
 * 5000-event chunk (already appended) leaves the store empty; the retry works.
 */
function ndjson(n: number): string[] {
  const tracker = new IdentityTracker('import-src');
  const t0 = Date.parse('2026-03-01T00:00:00Z');
  const events: NewEvent[] = Array.from({ length: n }, (_, i) => ({
    itemType: 'Lamp',
    changeType: i % 11 === 10 ? 'DEL' : 'SET',
    item: i % 11 === 10 ? { id: `l${i % 300}` } : { id: `l${i % 300}`, level: i },
    createdAt: new Date(t0 + i).toISOString(),
    tx: `t${i}`,
    sourceId: 'import-src',
  }));
  tracker.commit(tracker.stage(events));
  return events.map((e, i) => JSON.stringify({ ...e, position: i + 1 }));
}

const sink = () => {
  let text = '';
  const w = new Writable({ write: (chunk, _enc, cb) => ((text += String(chunk)), cb()) });
  return { w, text: () => text };
};

async function roundTrip(store: EventStore, dir: string) {
  const lines = ndjson(6200);
  const bad = join(dir, 'bad.ndjson');
  const good = join(dir, 'good.ndjson');
  writeFileSync(good, lines.join('\n') + '\n');
  writeFileSync(bad, [...lines.slice(0, 5800), 'not json', ...lines.slice(5800)].join('\n') + '\n');

  const failed = sink();
  assert.equal(await runImport(store, bad, failed.w), 1);
  assert.match(failed.text(), /line 5801: not JSON[\s\S]*nothing imported/);
  assert.equal(await store.lastPosition(), 0, 'the 5000 events appended before the bad line are gone');

  const ok = sink();
  assert.equal(await runImport(store, good, ok.w), 0, ok.text());
  assert.match(ok.text(), /imported 6200 events[\s\S]*ok: 6200 events verified/);
  const all = await store.readAfter(0, 10_000);
  assert.equal(all.length, 6200);
  assert.deepEqual(all.map((e) => e.tx), lines.map((_, i) => `t${i}`));

  // Refused once there are events, and a refused import changes nothing.
  assert.equal(await runImport(store, good, sink().w), 1);
  assert.equal((await store.readAfter(0, 10_000)).length, 6200);
}

describe('import is all or nothing', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  test('sqlite', async () => {
    const dir = tempDir();
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const store = new SqliteEventStore({ dataDir: join(dir, 'data'), sync: 'normal' });
    try {
      await roundTrip(store, dir);
    } finally {
      await store.close();
    }
  });

  test('postgres', async (t) => {
    const db = await testPostgres();
    if (!db) return t.skip('no PostgreSQL');
    cleanups.push(() => db.drop());
    const dir = tempDir();
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const store = await PostgresEventStore.open({ url: db.url, schema: db.schema, serverId: 'import-test' });
    try {
      await roundTrip(store, dir);
    } finally {
      await store.close();
    }
  });
});
