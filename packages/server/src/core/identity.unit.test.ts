import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '@myko/protocol';
import { computeIdentity, dataHash, eventId, eventIdInput, IdentityTracker, isoTs, sha256, trustedIdInput } from './identity.js';
import type { NewEvent } from '../store/event-store.js';
import { withHash } from './hash.js';

test('the direct _id input is byte-for-byte canonicalJson of the same fields', () => {
  const cases = [
    { cid: 'lamp-1', ct: 'Lamp', dHash: 'd'.repeat(64), pids: [], src: 'server-a', t: 'SET', ts: '2026-01-02T03:04:05.000Z' },
    { cid: 'we"ird\\id\u2028', ct: 'Ünï', dHash: 'x', pids: ['b', 'a', 'c'], src: 's', t: 'DEL', ts: 't' },
  ];
  for (const f of cases) assert.equal(eventIdInput(f), canonicalJson({ ...f, pids: [...f.pids].sort() }));
});

test('withHash gives the same hash and canonical JSON as computing each separately', () => {
  const items = [
    { id: 'a', z: 1, b: { y: [1, { c: 2, a: null }], x: 'é' }, hash: '' },
    { id: 'b', undef: undefined, fn: () => 1, g: 'h', i: 'j' },
    { id: 'c' },
    { hat: 1, id: 'd', hash: 'stale' },
    { a: 1, b: [2], has: 'before hash', hash: '' },
    {},
    { z: undefined },
  ];
  for (const raw of items) {
    const { hash: _drop, ...rest } = raw as Record<string, unknown>;
    const { hash, item } = withHash(raw as never);
    assert.equal(hash, sha256(canonicalJson(rest)));
    assert.equal(dataHash(item), sha256(canonicalJson(item)), 'the remembered dHash equals a fresh one');
    assert.equal(dataHash(item), sha256(canonicalJson(item)), 'hashed again (the remembered dHash is forgotten once used): the same');
  }
});

test('isoTs remembers its last answer without ever giving a stale or wrong one', () => {
  const forms = ['2026-01-02T03:04:06.5+01:00', '2026-01-02T02:04:06.500Z', '2026-01-02T03:04:06.5+01:00', '2026-03-01T00:00:00Z'];
  for (const f of [...forms, ...forms]) assert.equal(isoTs(f), new Date(f).toISOString(), f);
  assert.throws(() => isoTs('not a date'), RangeError);
  assert.equal(isoTs('2026-03-01T00:00:00Z'), '2026-03-01T00:00:00.000Z', 'a refused input does not disturb the remembered one');
});

test('computeIdentity: pids sorted once, the _id over the same input eventIdInput writes', () => {
  const e = { itemType: 'Lamp', changeType: 'SET' as const, item: { id: 'lamp-1', hash: 'h1' }, createdAt: '2026-01-02T03:04:05Z' };
  for (const pids of [[], ['b'], ['c', 'a', 'b']]) {
    const got = computeIdentity(e, pids, 'server-a', 'prev');
    assert.deepEqual(got.pids, [...pids].sort());
    assert.equal(got._id, eventId({ cid: 'lamp-1', ct: 'Lamp', dHash: got.dHash, pids, src: 'server-a', t: 'SET', ts: got.ts }));
    assert.equal(got.chain, sha256('prev' + got._id));
  }
});

test('withHash with remembered shapes: the same hash and canonical JSON for items of one shape, of many shapes, and of look-alike shapes', () => {
  const proto = Object.create({ inherited: 'x' }) as Record<string, unknown>;
  proto.id = 'p';
  proto.a = 1;
  const items: Record<string, unknown>[] = [];
  // More shapes than are remembered, each seen again later (a reused slot must not answer for another shape).
  for (let round = 0; round < 3; round++)
    for (let s = 0; s < 12; s++) items.push({ id: `i${round}-${s}`, ['k' + s]: s, z: 'é"\\', a: [round, { y: 1, b: 2 }] });
  items.push({ id: 'x', b: 1, a: 2 }, { id: 'y', a: 2, b: 1 }, { id: 'z', a: 2, b: 1, c: undefined }, { id: 'w', a: 2 }, { 1: 'n', id: 'v', 0: 'm' });
  items.push({ id: 'h', hash: '', a: 1 }, { id: 'h2', a: 1, hash: '' }, { hash: '', id: 'h3' });
  // Own keys plus inherited enumerable ones that for…in lists like a remembered shape's keys.
  const lookAlike = Object.create({ n: 1, payload: 'x' }) as Record<string, unknown>;
  lookAlike.id = 'l';
  items.push({ id: 'l0', n: 2, payload: 'y' }, lookAlike, proto, { id: 'p2', a: 1 }, Object.assign(Object.create(null), { id: 'nul', b: 1 }));
  for (const raw of items) {
    const { hash: _drop, ...rest } = raw;
    const own = Object.fromEntries(Object.keys(raw).map((k) => [k, raw[k]]));
    const { hash: _drop2, ...ownRest } = own;
    const { hash, item } = withHash(raw as never);
    assert.equal(hash, sha256(canonicalJson(ownRest)), JSON.stringify(raw));
    assert.equal(hash, sha256(canonicalJson(Object.getPrototypeOf(raw) === Object.prototype ? rest : ownRest)));
    assert.deepEqual(Object.keys(item), [...Object.keys(raw).filter((k) => k !== 'hash' || 'hash' in raw), ...('hash' in raw ? [] : ['hash'])]);
    assert.equal(dataHash(item), sha256(canonicalJson(item)), JSON.stringify(raw));
  }
});

test('an event from normalizeEvent carries its dHash: the same identity as computed from scratch, never taken by a copy with another item, invisible in its JSON', async () => {
  const { normalizeEvent } = await import('./normalize.js');
  const registry = { itemType: () => undefined, isPersistent: (t: string) => t !== 'Pulse' } as never;
  const origin = { serverId: 'srv', clientId: 'c1' };
  const e = normalizeEvent({ itemType: 'Lamp', changeType: 'SET', item: { id: 'l1', on: true, name: 'é"' }, createdAt: '2026-01-02T03:04:05Z', tx: 't1' }, origin, registry);
  const fresh = sha256(canonicalJson(e.item));
  assert.equal(computeIdentity(e, [], 'srv', '').dHash, fresh);
  assert.equal(computeIdentity(e, [], 'srv', '').dHash, fresh, 'again (a retried batch): the same');
  assert.equal(JSON.stringify(e), JSON.stringify({ itemType: 'Lamp', changeType: 'SET', item: e.item, createdAt: e.createdAt, tx: 't1', sourceId: 'srv', clientId: 'c1' }));
  assert.deepEqual(Object.keys(e), ['itemType', 'changeType', 'item', 'createdAt', 'tx', 'sourceId', 'clientId']);
  const other = { ...e, item: { ...e.item, on: false } };
  assert.equal(computeIdentity(other, [], 'srv', '').dHash, sha256(canonicalJson(other.item)), 'a copy with another item computes its own');
  const pulse = normalizeEvent({ itemType: 'Pulse', changeType: 'SET', item: { id: 'p1' }, createdAt: '2026-01-02T03:04:05Z' }, origin, registry);
  assert.equal(computeIdentity(pulse, [], 'srv', '').dHash, sha256(canonicalJson(pulse.item)), 'ephemeral: none carried, computed when asked');
  const given = normalizeEvent({ itemType: 'Lamp', changeType: 'SET', item: { id: 'l2', hash: 'client-hash' }, createdAt: '2026-01-02T03:04:05Z' }, origin, registry);
  assert.equal(computeIdentity(given, [], 'srv', '').dHash, sha256(canonicalJson(given.item)), 'a hash given by the client: computed');
});

test('computeIdentity: the _id the same as eventId gives, with the type, the server and the change alternating (the cached parts follow)', () => {
  const combos = [
    ['Lamp', 'SET', 'server-a'],
    ['Lamp', 'DEL', 'server-a'],
    ['Ünï "q"', 'SET', 'server-a'],
    ['Lamp', 'SET', 'srv\\"b'],
    ['Lamp', 'SET', 'server-a'],
  ] as const;
  for (let round = 0; round < 3; round++)
    for (const [ct, t, src] of combos) {
      const e = { itemType: ct, changeType: t, item: { id: `we"ird-${round}\u2028`, hash: 'h' }, createdAt: '2026-01-02T03:04:05Z' };
      const got = computeIdentity(e, ['p2', 'p1'], src, 'prev');
      assert.equal(got._id, eventId({ cid: e.item.id, ct, dHash: got.dHash, pids: ['p1', 'p2'], src, t, ts: got.ts }), `${ct} ${t} ${src}`);
    }
});

// The writer and `myko verify` build every _id input with trustedIdInput (pids sorted first): it must give
// eventIdInput's text exactly, whatever the strings hold, and for parents and fields that are not strings at
// all (a rewritten event, as verify meets it).
test('trustedIdInput is eventIdInput byte for byte, escapes and non-strings included', () => {
  const dHash = 'd341a432a98e356c4abdf96a3399e0129c93c974c26988509b56c74f704e3e61';
  const ts = '2023-11-14T22:13:20.499Z';
  const odd = ['', 'plain', 'fixture-12', 'quote"in', 'back\\slash', 'tab\there', 'nul\u0000', 'é ü 中文', 'emoji 😀', 'lone \ud800 high', 'lone \udc00 low', '\u007f\u2028\u2029', '</script>'];
  const pidSets: unknown[][] = [[], [dHash], ['b', 'a'], ['z', 'y', 'x'], ['quote"in'], [5], [null, 'a'], [{ a: 1 }], [['n']]];
  const others: unknown[] = [undefined, null, 7, true, { x: 'y' }, ['q']];
  let n = 0;
  for (const s of [...odd, ...others])
    for (const pids of pidSets) {
      const f = { cid: odd[n % odd.length]!, ct: odd[(n * 3) % odd.length]!, dHash, pids: pids as string[], src: s as string, t: (n % 2 ? 'SET' : s) as string, ts };
      const sorted = f.pids.length < 2 ? f.pids : [...f.pids].sort();
      assert.equal(trustedIdInput(f.cid, f.ct, f.dHash, sorted, f.src, f.t, f.ts), eventIdInput(f), JSON.stringify(f));
      n++;
    }
  assert.ok(n > 150);
});

test('IdentityTracker.follow: a linear history keeps one leaf; a fork keeps both branches; a merge names both and leaves one; a replayed event changes nothing', () => {
  const t = new IdentityTracker('me');
  const ev = (_id: string, pids: string[], src = 'other') => ({
    itemType: 'T', changeType: 'SET', item: { id: 'x' }, createdAt: '2026-01-01T00:00:00.000Z', tx: _id,
    identity: { _id, pids, src, dHash: 'd', ts: 't', chain: `c-${_id}` },
  }) as NewEvent;
  const leaves = () => t.leaves.get('T', 'x');
  t.follow(ev('a', []));
  assert.deepEqual(leaves(), ['a']);
  const before = leaves();
  t.follow(ev('b', ['a']));
  assert.deepEqual(leaves(), ['b']);
  assert.deepEqual(before, ['a'], 'leaves are replaced, never changed in place (an event may hold them as its pids)');
  // Two members wrote on b at once: both branches stay until an event names them.
  t.follow(ev('c1', ['b']));
  t.follow(ev('c2', ['b']));
  assert.deepEqual(leaves(), ['c1', 'c2']);
  t.follow(ev('c2', ['b']));
  assert.deepEqual(leaves(), ['c1', 'c2'], 'an event already a leaf is not added twice');
  // One parent of two leaves: the other branch stays.
  t.follow(ev('d', ['c1']));
  assert.deepEqual(leaves(), ['c2', 'd']);
  t.follow(ev('e', ['c2', 'd'], 'me'));
  assert.deepEqual(leaves(), ['e']);
  assert.equal(t.chain, 'c-e', "this server's own event moves the chain head");
  // A single leaf that is not the event's single parent (the parent came from elsewhere): kept beside it.
  t.follow(ev('f', ['zz']));
  assert.deepEqual(leaves(), ['e', 'f']);
  assert.equal(t.chain, 'c-e', "another server's event leaves the chain head");
});
