import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { State, type Change } from '../core/state.js';
import { createLogger } from '../logger.js';
import type { StoredEvent } from '../store/event-store.js';
import { AggregateVersions } from './versions.js';

let position = 0;
/** Apply one event to `state` the way the writer does, returning its change (null = changed nothing). */
function apply(state: State, changeType: 'SET' | 'DEL', item: MItem, itemType = 'Cue'): Change[] {
  const event: StoredEvent = { position: ++position, itemType, changeType, item, createdAt: new Date().toISOString(), tx: `t${position}`, sourceId: 's' };
  const c = state.apply(event);
  return c ? [c] : [];
}

test('a version counts the changes of one aggregate; an item present when counting began is at 1', () => {
  const state = new State();
  apply(state, 'SET', { id: 'old', label: 'x' });
  const v = new AggregateVersions(state, createLogger('silent'));
  assert.equal(v.version('Cue', 'old'), 1);
  assert.equal(v.version('Cue', 'new'), 0);
  v.listener(apply(state, 'SET', { id: 'old', label: 'y' }));
  assert.equal(v.version('Cue', 'old'), 2);
  v.listener(apply(state, 'SET', { id: 'old', label: 'y' })); // equal: no change, no count
  assert.equal(v.version('Cue', 'old'), 2);
  v.listener(apply(state, 'SET', { id: 'new', label: 'a' }));
  v.listener(apply(state, 'DEL', { id: 'new' }));
  assert.equal(v.version('Cue', 'new'), 2, 'the DEL counts and the count is kept');
  v.listener(apply(state, 'DEL', { id: 'new' })); // absent: no change
  v.listener(apply(state, 'SET', { id: 'new', label: 'b' }));
  assert.equal(v.version('Cue', 'new'), 3, 'a re-created aggregate goes on counting');
  assert.equal(v.tombstoneCount, 0);
});

test('event watchers get each change of their aggregate with the version after it; stop ends it', () => {
  const state = new State();
  const v = new AggregateVersions(state, createLogger('silent'));
  const seen: string[] = [];
  const stop = v.watch('Cue', 'a', (e, version) => seen.push(`${e.changeType}@${version}`));
  v.listener(apply(state, 'SET', { id: 'a', n: 1 }));
  v.listener(apply(state, 'SET', { id: 'b', n: 1 }));
  v.listener([...apply(state, 'SET', { id: 'a', n: 2 }), ...apply(state, 'DEL', { id: 'a' })]);
  stop();
  v.listener(apply(state, 'SET', { id: 'a', n: 3 }));
  assert.deepEqual(seen, ['SET@1', 'SET@2', 'DEL@3']);
});

test('deleted aggregates keep their count only for the last maxTombstones deletions', () => {
  const state = new State();
  const v = new AggregateVersions(state, createLogger('silent'), 2);
  for (const id of ['x', 'y', 'z']) {
    v.listener(apply(state, 'SET', { id }));
    v.listener(apply(state, 'DEL', { id }));
  }
  assert.equal(v.tombstoneCount, 2);
  assert.equal(v.version('Cue', 'x'), 0, 'evicted: starts again');
  assert.equal(v.version('Cue', 'y'), 2);
  assert.equal(v.version('Cue', 'z'), 2);
  v.listener(apply(state, 'SET', { id: 'y' }));
  assert.equal(v.version('Cue', 'y'), 3);
  assert.equal(v.tombstoneCount, 1);
});
