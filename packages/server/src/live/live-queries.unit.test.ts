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


/** State, and live queries over it with the built-in types. */
function fixture() {
  const state = new State();
  const registry = new Registry();
  registry.register(builtinPlugin);
  return { state, live: new LiveQueries(state, registry) };
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
  const { state, live } = fixture();
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

/** A Recorder whose socket can be congested; `drain()` lets it take data again and runs the drain waiters. */
class Congestable extends Recorder {
  full = false;
  private waiters: (() => void)[] = [];
  override congested() { return this.full; }
  override onDrain(cb: () => void) { if (this.full) this.waiters.push(cb); else cb(); }
  drain() { this.full = false; for (const cb of this.waiters.splice(0)) cb(); }
}

test('a batch of several changes: one response per query, upserts and deletes in the order the ids were first touched', () => {
  const state = new State();
  const registry = new Registry();
  registry.register(builtinPlugin);
  for (const id of ['a', 'b']) apply(state, 'Target', { id });
  const live = new LiveQueries(state, registry);
  const conn = new Recorder('c');
  live.subscribe(conn, { tx: 'all', queryId: 'GetAllTargets', itemType: 'Target', params: {}, window: undefined });
  const batch = [
    ...apply(state, 'Target', { id: 'c' }),
    ...apply(state, 'Target', { id: 'b' }, true),
    ...apply(state, 'Target', { id: 'a', v: 1 }),
    ...apply(state, 'Target', { id: 'c', v: 2 }),
    ...apply(state, 'Target', { id: 'd' }),
    ...apply(state, 'Target', { id: 'd' }, true),
    ...apply(state, 'Target', { id: 'e' }),
  ];
  live.onChanges(batch);
  assert.equal(conn.frames.length, 2);
  const d = conn.frames[1].data;
  assert.deepEqual([d.sequence, d.upserts.map((u: any) => u.item), d.deletes, d.totalCount], [1, [{ id: 'c', v: 2 }, { id: 'a', v: 1 }, { id: 'e' }], ['b'], 3]);
});

test('a single change reaches an uncongested subscriber at once; a congested one gets it on drain, coalesced with later changes', () => {
  const { state, live } = fixture();
  const fast = new Congestable('fast');
  const slow = new Congestable('slow');
  for (const conn of [fast, slow]) live.subscribe(conn, { tx: 'q', queryId: 'GetAllTargets', itemType: 'Target', params: {}, window: undefined });
  slow.full = true;
  live.onChanges(apply(state, 'Target', { id: 'a', n: 1 }));
  live.onChanges(apply(state, 'Target', { id: 'b', n: 1 }));
  live.onChanges(apply(state, 'Target', { id: 'a', n: 2 }));
  const diffs = (c: Recorder) => c.frames.slice(1).map((f) => [f.data.sequence, f.data.upserts.map((u: any) => u.item), f.data.deletes]);
  assert.deepEqual(diffs(fast), [
    [1, [{ id: 'a', n: 1 }], []],
    [2, [{ id: 'b', n: 1 }], []],
    [3, [{ id: 'a', n: 2 }], []],
  ]);
  assert.deepEqual(diffs(slow), []);
  slow.drain();
  assert.deepEqual(diffs(slow), [[1, [{ id: 'a', n: 2 }, { id: 'b', n: 1 }], []]]);
  // Once drained, single changes go out at once again.
  live.onChanges(apply(state, 'Target', { id: 'b' }, true));
  assert.deepEqual(diffs(slow).at(-1), [2, [], ['b']]);
});

test('a subscriber whose send fails does not keep the change from the others; the failure is thrown after them', () => {
  const { state, live } = fixture();
  const before = new Recorder('before');
  const broken = new Recorder('broken');
  const after = new Recorder('after');
  for (const conn of [before, broken, after]) live.subscribe(conn, { tx: 'q', queryId: 'GetAllTargets', itemType: 'Target', params: {}, window: undefined });
  broken.send = () => {
    throw new Error('socket gone wrong');
  };
  assert.throws(() => live.onChanges(apply(state, 'Target', { id: 'a' })), /socket gone wrong/);
  for (const conn of [before, after]) assert.deepEqual(conn.frames.at(-1).data.upserts, [{ itemType: 'Target', item: { id: 'a' } }], conn.clientId);
  // The next change reaches everyone, the broken one included once it sends again.
  delete (broken as Partial<Recorder>).send;
  live.onChanges(apply(state, 'Target', { id: 'b' }));
  for (const conn of [before, broken, after]) assert.equal(conn.frames.at(-1).data.upserts[0].item.id, 'b', conn.clientId);
});
