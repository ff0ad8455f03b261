import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { MItem } from '@myko/protocol';
import { State, type Change } from '../core/state.js';
import { createLogger } from '../logger.js';
import type { NewEvent, StoredEvent } from '../store/event-store.js';
import { SqliteEventStore } from '../store/sqlite/index.js';
import { tempDir } from '../testing/index.js';
import { AggregateVersions } from './versions.js';

/**
 * The versions against a real SQLite log, driven the way the writer drives
 * them: append, apply to state, then the listener with (changes, stored).
 */
function harness() {
  const dir = tempDir();
  const store = new SqliteEventStore({ dataDir: dir, sync: 'normal' });
  const state = new State();
  let applied = 0;
  const ephemeralTypes = new Set(['Pulse']);
  const v = new AggregateVersions({
    store,
    appliedPosition: () => applied,
    isPersistent: (t) => !ephemeralTypes.has(t),
    state,
    log: createLogger('silent'),
  });
  const ev = (changeType: 'SET' | 'DEL', item: MItem, itemType: string): NewEvent => ({
    itemType,
    changeType,
    item,
    createdAt: new Date().toISOString(),
    tx: 't',
    sourceId: 's',
  });
  /** Commit to the log without applying yet (the window between append and apply). */
  const append = (changeType: 'SET' | 'DEL', item: MItem, itemType = 'Cue') => store.appendNow([ev(changeType, item, itemType)]);
  /** Apply committed events and tell the listener, as Writer.applyStored does. */
  const apply = (stored: StoredEvent[]) => {
    const changes: Change[] = [];
    for (const e of stored) {
      const c = state.apply(e);
      if (c) changes.push(c);
      if (e.position > 0) applied = e.position;
    }
    v.listener(
      changes,
      stored.filter((e) => e.position > 0),
    );
  };
  const write = (changeType: 'SET' | 'DEL', item: MItem, itemType = 'Cue') =>
    apply(ephemeralTypes.has(itemType) ? [{ ...ev(changeType, item, itemType), position: 0 }] : append(changeType, item, itemType));
  return { v, store, append, apply, write, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('a persisted aggregate\'s version is its stored event count: every SET (equal ones too) and DEL', async () => {
  const h = harness();
  try {
    h.write('SET', { id: 'a', n: 1 });
    h.write('SET', { id: 'a', n: 1 }); // equal: stored, changes nothing, still an event
    h.write('SET', { id: 'b', n: 1 });
    h.write('DEL', { id: 'a' });
    await h.v.acquire('Cue', 'a');
    assert.equal(h.v.version('Cue', 'a'), 3);
    h.write('SET', { id: 'a', n: 2 }); // re-created: goes on counting
    h.write('SET', { id: 'a', n: 2 });
    assert.equal(h.v.version('Cue', 'a'), 5);
    assert.equal(h.v.version('Cue', 'a'), await h.store.countHistory('Cue', 'a'));
    await h.v.acquire('Cue', 'never');
    assert.equal(h.v.version('Cue', 'never'), 0);
  } finally {
    await h.close();
  }
});

test('events committed but not yet applied when counting starts are counted once, by the listener', async () => {
  const h = harness();
  try {
    h.write('SET', { id: 'a', n: 1 });
    const late = h.append('SET', { id: 'a', n: 2 }); // in the log, not yet in state
    const acquired = h.v.acquire('Cue', 'a'); // counts up to the applied position (1 event)
    h.apply(late); // applied while the count is in flight
    await acquired;
    assert.equal(h.v.version('Cue', 'a'), 2);
    assert.equal(await h.store.countHistory('Cue', 'a'), 2);
  } finally {
    await h.close();
  }
});

test('held while acquired: the last release drops the count, a later acquire counts again', async () => {
  const h = harness();
  try {
    h.write('SET', { id: 'a', n: 1 });
    await h.v.acquire('Cue', 'a');
    await h.v.acquire('Cue', 'a');
    assert.equal(h.v.trackedCount, 1);
    h.v.release('Cue', 'a');
    assert.equal(h.v.trackedCount, 1, 'still held by the other subscription');
    h.v.release('Cue', 'a');
    assert.equal(h.v.trackedCount, 0);
    h.write('SET', { id: 'a', n: 2 }); // not watched: nothing to keep in step
    await h.v.acquire('Cue', 'a');
    assert.equal(h.v.version('Cue', 'a'), 2);
  } finally {
    await h.close();
  }
});

test('a count the store cannot give rejects and holds nothing', async () => {
  const h = harness();
  await h.store.close(); // the store is gone
  try {
    await assert.rejects(h.v.acquire('Cue', 'a'));
    assert.equal(h.v.trackedCount, 0);
  } finally {
    await h.close();
  }
});

test('event watchers get each event of their aggregate with the version after it, equal SETs included; stop ends it', async () => {
  const h = harness();
  try {
    h.write('SET', { id: 'a', n: 0 });
    await h.v.acquire('Cue', 'a');
    const seen: string[] = [];
    const stop = h.v.watch('Cue', 'a', (e, version) => seen.push(`${e.changeType}@${version}`));
    h.write('SET', { id: 'a', n: 1 });
    h.write('SET', { id: 'b', n: 1 });
    h.write('SET', { id: 'a', n: 1 });
    h.apply([...h.append('SET', { id: 'a', n: 2 }), ...h.append('DEL', { id: 'a' })]);
    stop();
    h.write('SET', { id: 'a', n: 3 });
    assert.deepEqual(seen, ['SET@2', 'SET@3', 'SET@4', 'DEL@5']);
  } finally {
    await h.close();
  }
});

test('ephemeral types: changes applied since start; equal SETs are not counted; a deleted item starts again', async () => {
  const h = harness();
  try {
    await h.v.acquire('Pulse', 'p'); // nothing to count in the log
    const seen: number[] = [];
    h.v.watch('Pulse', 'p', (_e, version) => seen.push(version));
    assert.equal(h.v.version('Pulse', 'p'), 0);
    h.write('SET', { id: 'p', v: 1 }, 'Pulse');
    h.write('SET', { id: 'p', v: 1 }, 'Pulse'); // equal: not stored anywhere, not counted
    h.write('SET', { id: 'p', v: 2 }, 'Pulse');
    assert.equal(h.v.version('Pulse', 'p'), 2);
    h.write('DEL', { id: 'p' }, 'Pulse');
    assert.equal(h.v.version('Pulse', 'p'), 0);
    h.write('SET', { id: 'p', v: 3 }, 'Pulse');
    assert.deepEqual(seen, [1, 2, 3, 1]);
    assert.equal(await h.store.countHistory('Pulse', 'p'), 0, 'nothing of it in the log');
  } finally {
    await h.close();
  }
});
