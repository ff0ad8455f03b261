import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IdPrefixes } from './id-prefixes.js';

const hex = (i: number) => createHash('sha256').update(String(i)).digest('hex');

test('IdPrefixes answers as a Set of the ids\' first 16 characters would, through growth and sized up front', () => {
  for (const expected of [0, 20_000, 5]) answersAsASet(new IdPrefixes(expected));
});

function answersAsASet(set: IdPrefixes) {
  const plain = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = hex(i);
    assert.equal(set.add(id), !plain.has(id.slice(0, 16)));
    plain.add(id.slice(0, 16));
    if (i % 7 === 0) assert.equal(set.add(hex(i >> 1)), false, 'a second add of a seen id says so');
  }
  assert.equal(set.size, plain.size);
  for (let i = 0; i < 40_000; i++) assert.equal(set.has(hex(i)), i < 20_000);
  // Same first 64 bits, different rest: the same prefix.
  assert.equal(set.has(hex(5).slice(0, 16) + 'f'.repeat(48)), true);
  assert.equal(set.add(hex(5).slice(0, 16) + '0'.repeat(48)), false);
}

test('IdPrefixes: the all-zero prefix, and strings that are no hex id prefix are never seen', () => {
  const set = new IdPrefixes();
  assert.equal(set.has('0'.repeat(64)), false);
  assert.equal(set.add('0'.repeat(64)), true);
  assert.equal(set.has('0'.repeat(16)), true);
  assert.equal(set.add('0'.repeat(64)), false);
  const id = hex(1);
  set.add(id);
  for (const s of [id.slice(0, 15), id.toUpperCase(), 'g' + id.slice(1), '', ' ' + id, 42 as unknown as string]) assert.equal(set.has(s), false, String(s));
  assert.throws(() => set.add('not hex at all, not at all'));
});
