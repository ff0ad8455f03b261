import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '@myko/protocol';
import { dataHash, eventIdInput, sha256 } from './identity.js';
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
  ];
  for (const raw of items) {
    const { hash: _drop, ...rest } = raw as Record<string, unknown>;
    const { hash, item } = withHash(raw as never);
    assert.equal(hash, sha256(canonicalJson(rest)));
    assert.equal(dataHash(item), sha256(canonicalJson(item)), 'the remembered canonical JSON equals a fresh one');
  }
});
