import { test } from 'node:test';
import assert from 'node:assert/strict';
import { State } from './state.js';
import type { StoredEvent } from '../store/event-store.js';

let position = 0;
const set = (item: Record<string, unknown> & { id: string }): StoredEvent =>
  ({ itemType: 'T', changeType: 'SET', item, createdAt: '2026-01-01T00:00:00.000Z', tx: `t${++position}`, position }) as StoredEvent;

test('State.apply: an equal SET changes nothing and keeps the object state holds, members in their order', () => {
  const s = new State();
  const first = { id: 'x', a: 1, b: [1, { c: 2 }], hash: 'h1' };
  assert.ok(s.apply(set(first)));
  assert.equal(s.apply(set({ b: [1, { c: 2 }], hash: 'h1', a: 1, id: 'x' })), null);
  assert.equal(s.get('T', 'x'), first, 'the first object stays, so its member order is what clients keep seeing');
});

test('State.apply: items whose hashes differ differ; equal hashes still compare every member', () => {
  const s = new State();
  s.apply(set({ id: 'x', a: 1, hash: 'h1' }));
  const other = s.apply(set({ id: 'x', a: 1, hash: 'h2' }));
  assert.ok(other, 'the hash is a member like any other');
  assert.equal(other.prev?.hash, 'h1');
  // An imported or replicated item keeps the hash it came with: equal hashes do not make items equal.
  const changed = s.apply(set({ id: 'x', a: 2, hash: 'h2' }));
  assert.ok(changed);
  assert.equal(changed.next?.a, 2);
  // Items without a hash (a report's rows, a test's items) are compared member by member.
  s.apply(set({ id: 'y', a: 1 }));
  assert.equal(s.apply(set({ id: 'y', a: 1 })), null);
  assert.ok(s.apply(set({ id: 'y', a: 2 })));
  assert.ok(s.apply(set({ id: 'y', a: 2, hash: 'h' })), 'a hash on one side only is a difference');
});
