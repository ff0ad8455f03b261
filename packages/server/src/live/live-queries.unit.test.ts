import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { State, type Change } from '../core/state.js';
import { Registry, type QueryDef } from '../core/registry.js';
import { builtinPlugin, equalityFilter } from '../builtins.js';
import { LiveQueries } from './live-queries.js';
import type { Subscriber } from './subscriber.js';

/** A subscriber that records frames; the live engine needs nothing else of a connection. */
class Recorder implements Subscriber {
  readonly frames: any[] = [];
  constructor(readonly clientId: string, readonly dialect: 'seed' | 'current' = 'current') {}
  congested() { return false; }
  send(frame: () => object) { this.frames.push(frame()); }
  onDrain(cb: () => void) { cb(); }
}

let position = 0;
function apply(state: State, itemType: string, item: MItem | { id: string }, del = false): Change[] {
  const c = state.apply({ position: ++position, itemType, changeType: del ? 'DEL' : 'SET', item: item as MItem, createdAt: '', tx: '', sourceId: '' });
  return c ? [c] : [];
}

test('a change evaluates only the queries indexed under its type, id or field values', () => {
  const state = new State();
  const calls = new Map<string, number>();
  // A counting copy of the built-in equality query.
  const counted: QueryDef = {
    id: 'CountedByQuery',
    compile: (params) => {
      const f = equalityFilter(params);
      const key = JSON.stringify(params);
      return { ...f, match: (item) => (calls.set(key, (calls.get(key) ?? 0) + 1), f.match(item)) };
    },
  };
  const registry = new Registry();
  registry.register({ name: 't', queries: [counted] });
  registry.register(builtinPlugin);
  const live = new LiveQueries(state, registry);
  const conn = new Recorder('c');
  for (let s = 0; s < 100; s++)
    live.subscribe(conn, { tx: `q${s}`, queryId: 'CountedByQuery', itemType: 'Target', params: { serviceId: `svc${s}` }, window: undefined });
  live.subscribe(conn, { tx: 'other', queryId: 'CountedByQuery', itemType: 'Emitter', params: { serviceId: 'svc1' }, window: undefined });
  calls.clear();

  live.onChanges(apply(state, 'Target', { id: 't1', serviceId: 'svc7' }));
  assert.deepEqual([...calls.entries()], [[JSON.stringify({ serviceId: 'svc7' }), 1]]);

  // Moving an item between values reaches the query it left and the one it joined, nothing else.
  calls.clear();
  live.onChanges(apply(state, 'Target', { id: 't1', serviceId: 'svc8' }));
  assert.deepEqual([...calls.keys()].sort(), [JSON.stringify({ serviceId: 'svc7' }), JSON.stringify({ serviceId: 'svc8' })].sort());
  const q7 = conn.frames.filter((f) => f.data.tx === 'q7');
  assert.deepEqual(q7.at(-1).data.deletes, ['t1']);
  const q8 = conn.frames.filter((f) => f.data.tx === 'q8');
  assert.equal(q8.at(-1).data.upserts[0].item.id, 't1');

  // A type nobody watches: no evaluation at all.
  calls.clear();
  live.onChanges(apply(state, 'Pulse', { id: 'p', serviceId: 'svc7' }));
  assert.equal(calls.size, 0);

  // Cancelled queries leave the index.
  for (let s = 0; s < 100; s++) live.cancel(conn, `q${s}`);
  calls.clear();
  live.onChanges(apply(state, 'Target', { id: 't2', serviceId: 'svc3' }));
  assert.equal(calls.size, 0);
  assert.equal(live.size, 1);
});

test('an id-limited query is reached only by changes to its ids', () => {
  const state = new State();
  const registry = new Registry();
  registry.register(builtinPlugin);
  const live = new LiveQueries(state, registry);
  const conn = new Recorder('c');
  live.subscribe(conn, { tx: 'ids', queryId: 'GetTargetsByIds', itemType: 'Target', params: { ids: ['a', 'b'] }, window: undefined });
  live.onChanges(apply(state, 'Target', { id: 'z' }));
  live.onChanges(apply(state, 'Target', { id: 'a' }));
  live.onChanges(apply(state, 'Target', { id: 'a' }, true));
  const seqs = conn.frames.map((f) => [f.data.sequence, f.data.upserts.map((u: any) => u.item.id), f.data.deletes]);
  assert.deepEqual(seqs, [[0, [], []], [1, ['a'], []], [2, [], ['a']]]);
});

test('an unpaged query over items already in state: counted in its first response, and its members known to the diffs after it', () => {
  const state = new State();
  const registry = new Registry();
  registry.register(builtinPlugin);
  for (const id of ['a', 'b', 'c']) apply(state, 'Target', { id, serviceId: 's' });
  const live = new LiveQueries(state, registry);
  const conn = new Recorder('c');
  live.subscribe(conn, { tx: 'all', queryId: 'GetAllTargets', itemType: 'Target', params: {}, window: undefined });
  live.subscribe(conn, { tx: 'eq', queryId: 'GetTargetsByQuery', itemType: 'Target', params: { serviceId: 's' }, window: undefined });
  live.onChanges(apply(state, 'Target', { id: 'b' }, true));
  live.onChanges(apply(state, 'Target', { id: 'a', serviceId: 't' }));
  for (const tx of ['all', 'eq']) {
    const seqs = conn.frames.filter((f) => f.data.tx === tx).map((f) => [f.data.sequence, f.data.upserts.map((u: any) => u.item.id), f.data.deletes, f.data.totalCount]);
    assert.deepEqual(seqs.slice(0, 2), [[0, ['a', 'b', 'c'], [], 3], [1, [], ['b'], 2]], tx);
    assert.deepEqual(seqs[2], tx === 'all' ? [2, ['a'], [], 2] : [2, [], ['a'], 1], tx);
  }
});
