import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { EventStore, NewEvent } from './event-store.js';
import { SqliteEventStore } from './sqlite/index.js';
import { PostgresEventStore } from './postgres/index.js';
import { MykoServer } from '../server.js';
import { verifyLog } from '../log/verify.js';
import { tempDir, testPostgres, TestClient } from '../testing/index.js';

/**
 * One conformance suite for every EventStore backend (STYLE: emmett's
 * features.ts): the guarantees of event-store.ts, checked the same way on the
 * embedded SQLite store and on the cluster's PostgreSQL store.
 */
interface Backend {
  name: string;
  /** A fresh, empty store; the same `key` opens the same store again. */
  open(key: string): Promise<EventStore>;
  cleanup(): Promise<void>;
}

const sqlite = (): Backend => {
  const dirs = new Map<string, string>();
  return {
    name: 'sqlite',
    open: async (key) => {
      if (!dirs.has(key)) dirs.set(key, tempDir());
      return new SqliteEventStore({ dataDir: dirs.get(key)!, sync: 'normal' });
    },
    cleanup: async () => {
      for (const d of dirs.values()) rmSync(d, { recursive: true, force: true });
    },
  };
};

const postgres = async (): Promise<Backend | undefined> => {
  const db = await testPostgres();
  if (!db) return undefined;
  const schemas = new Map<string, string>();
  return {
    name: 'postgres',
    open: async (key) => {
      if (!schemas.has(key)) schemas.set(key, `${db.schema}_${schemas.size}`);
      return PostgresEventStore.open({ url: db.url, schema: schemas.get(key)!, serverId: 'conformance' });
    },
    cleanup: async () => {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      for (const s of schemas.values()) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await c.end();
    },
  };
};

const ev = (itemType: string, id: string, extra: Record<string, unknown> = {}, changeType: 'SET' | 'DEL' = 'SET'): NewEvent => ({
  itemType,
  changeType,
  item: { id, ...extra },
  createdAt: '2026-01-01T00:00:00.000Z',
  tx: `tx-${id}`,
  sourceId: 'conformance',
});

function suite(getBackend: () => Backend | undefined) {
  let n = 0;
  const fresh = async () => getBackend()!.open(`k${n++}`);

  test('append assigns strictly increasing positions in order and is read back whole', async (t) => {
    if (!getBackend()) return t.skip('backend unavailable');
    const store = await fresh();
    try {
      assert.equal(await store.lastPosition(), 0);
      const a = await store.append([ev('Lamp', 'a', { level: 1 }), ev('Lamp', 'b'), ev('Fader', 'f')]);
      const b = await store.append([ev('Lamp', 'a', { level: 2 }), ev('Lamp', 'b', {}, 'DEL')]);
      const positions = [...a, ...b].map((e) => e.position);
      assert.deepEqual([...positions].sort((x, y) => x - y), positions);
      assert.equal(new Set(positions).size, 5);
      assert.equal(await store.lastPosition(), positions[4]);
      const all = await store.readAfter(0, 100);
      assert.deepEqual(all.map((e) => [e.itemType, e.item.id, e.changeType]), [['Lamp', 'a', 'SET'], ['Lamp', 'b', 'SET'], ['Fader', 'f', 'SET'], ['Lamp', 'a', 'SET'], ['Lamp', 'b', 'DEL']]);
      assert.deepEqual(all[3]!.item, { id: 'a', level: 2 });
      assert.equal(all[0]!.tx, 'tx-a');
      // Windows of the log: after, limit, upTo, one item type.
      assert.deepEqual((await store.readAfter(positions[1]!, 2)).map((e) => e.position), positions.slice(2, 4));
      assert.deepEqual((await store.readAfter(0, 100, { upTo: positions[2]! })).length, 3);
      assert.deepEqual((await store.readAfter(0, 100, { itemType: 'Fader' })).map((e) => e.item.id), ['f']);
      assert.deepEqual((await store.readHistory('Lamp', 'a')).map((e) => e.item.level), [1, 2]);
      // Counts per item, the DEL included; `upTo` bounds them by position.
      assert.equal(await store.countHistory('Lamp', 'a'), 2);
      assert.equal(await store.countHistory('Lamp', 'b'), 2);
      assert.equal(await store.countHistory('Lamp', 'a', positions[2]!), 1);
      assert.equal(await store.countHistory('Lamp', 'nope'), 0);
      assert.equal(await store.countHistory('Fader', 'a'), 0, 'the item type is part of the key');
      const raw = await store.readRawAfter(0, 1);
      assert.equal(raw[0]!.itemType, 'Lamp');
      assert.equal(raw[0]!.itemId, 'a');
      assert.equal(raw[0]!.changeType, 'SET');
      assert.equal(JSON.parse(raw[0]!.event).item.level, 1);
    } finally {
      await store.close();
    }
  });

  test('what is appended is read back exactly: Unicode, large and nested items, numbers, a reopened store', async (t) => {
    const backend = getBackend();
    if (!backend) return t.skip('backend unavailable');
    const key = `rt${n++}`;
    let store = await backend.open(key);
    const items = [
      ev('Text', 'ünï-κόσμε-日本-🎛️', { label: '🎚️ fader ✓', rtl: 'שלום', nul: 'a\tb\nc"d\\e' }),
      ev('Big', 'big', { payload: 'x'.repeat(200_000) }),
      ev('Deep', 'deep', { a: { b: { c: [1, [2, [3, { d: null, e: true, f: false }]]] } } }),
      ev('Num', 'num', { int: 9007199254740991, neg: -0.000001, exp: 1.5e300, zero: 0 }),
    ];
    try {
      const stored = await store.append(items);
      await store.close();
      store = await backend.open(key);
      const back = await store.readAfter(0, 10);
      assert.deepEqual(back.map((e) => e.item), items.map((e) => e.item));
      assert.deepEqual(back.map((e) => e.position), stored.map((e) => e.position));
      assert.deepEqual((await store.readHistory('Text', 'ünï-κόσμε-日本-🎛️')).map((e) => e.item.label), ['🎚️ fader ✓']);
    } finally {
      await store.close();
    }
  });

  test('concurrent appends: each call is contiguous and all positions are distinct and in commit order', async (t) => {
    if (!getBackend()) return t.skip('backend unavailable');
    const store = await fresh();
    try {
      const calls = Array.from({ length: 8 }, (_, c) => Array.from({ length: 25 }, (_, k) => ev('Conc', `c${c}-${k}`, { c, k })));
      const results = await Promise.all(calls.map((events) => store.append(events)));
      for (const r of results) {
        const ps = r.map((e) => e.position);
        assert.deepEqual(ps, [...ps].sort((a, b) => a - b), 'positions rise within a call');
        // Contiguous in the log: no other call's event lands between two of this call's events.
        const all = await store.readAfter(ps[0]! - 1, r.length);
        assert.deepEqual(all.map((e) => e.item.id), r.map((e) => e.item.id));
      }
      const every = await store.readAfter(0, 1000);
      assert.equal(every.length, 200);
      assert.equal(new Set(every.map((e) => e.position)).size, 200);
    } finally {
      await store.close();
    }
  });

  test('atomically: what a failing import appended is gone, a succeeding one keeps everything', async (t) => {
    if (!getBackend()) return t.skip('backend unavailable');
    const store = await fresh();
    try {
      assert.ok(store.atomically, 'every backend supports myko import');
      await store.append([ev('Keep', 'before')]);
      const before = await store.lastPosition();
      await assert.rejects(
        store.atomically!(async () => {
          await store.append([ev('Gone', 'a'), ev('Gone', 'b')]);
          await store.append([ev('Gone', 'c')]);
          throw new Error('bad line 3');
        }),
        /bad line 3/,
      );
      assert.equal((await store.readAfter(0, 100)).filter((e) => e.itemType === 'Gone').length, 0);
      assert.equal((await store.readAfter(before, 100)).length, 0);
      const kept = await store.atomically!(async () => store.append([ev('Kept', 'x'), ev('Kept', 'y')]));
      assert.equal(kept.length, 2);
      assert.deepEqual((await store.readAfter(0, 100)).map((e) => e.item.id), ['before', 'x', 'y']);
    } finally {
      await store.close();
    }
  });

  test('a server on the store: identities verify, and state survives a restart', async (t) => {
    const backend = getBackend();
    if (!backend) return t.skip('backend unavailable');
    const key = `srv${n++}`;
    const start = async () => MykoServer.start({ store: await backend.open(key), config: { port: 0, host: '127.0.0.1', logLevel: 'silent' } });
    let server = await start();
    const c = await TestClient.connect(server.url());
    for (let round = 0; round < 3; round++)
      c.send({ event: 'ws:m:event-batch', data: ['x', 'y', 'z'].map((id) => ({ itemType: 'Cue', changeType: 'SET', item: { id, round } })) });
    c.send({ event: 'ws:m:event', data: { itemType: 'Cue', changeType: 'DEL', item: { id: 'y' } } });
    await c.sync();
    await c.close();
    const before = [...server.state.all('Cue')].sort((a, b) => (a.id < b.id ? -1 : 1));
    await server.stop();
    const verifyStore = await backend.open(key);
    const v = await verifyLog(verifyStore);
    await verifyStore.close();
    assert.equal(v.ok, true, JSON.stringify(v.failure));
    server = await start();
    try {
      assert.deepEqual([...server.state.all('Cue')].sort((a, b) => (a.id < b.id ? -1 : 1)), before);
      assert.deepEqual(before.map((x) => [x.id, x.round]), [['x', 2], ['z', 2]]);
      assert.equal(server.state.count('Client'), 0, 'clients of the previous run are gone');
    } finally {
      await server.stop();
    }
  });
}

let sq: Backend;
let pgb: Backend | undefined;
before(async () => {
  sq = sqlite();
  pgb = await postgres();
});
after(async () => {
  await sq?.cleanup();
  await pgb?.cleanup();
});

describe('EventStore conformance: sqlite', () => suite(() => sq));
describe('EventStore conformance: postgres', () => suite(() => pgb));
