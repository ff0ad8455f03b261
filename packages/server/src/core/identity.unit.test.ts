import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '@myko/protocol';
import { computeIdentity, dataHash, eventId, eventIdInput, isoTs, sha256 } from './identity.js';
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
    assert.equal(dataHash(item), sha256(canonicalJson(item)), 'the remembered canonical JSON equals a fresh one');
    assert.equal(dataHash(item), sha256(canonicalJson(item)), 'hashed again (the remembered text is forgotten once used): the same');
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
