import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowDigests } from './row-digests.js';
import { sha256 } from '../../core/identity.js';

test('RowDigests.from(export()) is the same digest, and carries hundreds of thousands of free slots', () => {
  const d = new RowDigests();
  d.reset();
  const n = 300_000;
  for (let i = 0; i < n; i++) d.set('S', 'Lamp', `l${i}`, sha256(`row ${i}`));
  // Deleted items free their slots: more than a function call takes as spread arguments.
  for (let i = 0; i < n - 2; i++) d.delete('S', 'Lamp', `l${i}`);
  d.set('L', 'Lamp', 'l0', sha256('leaf'));
  const copy = RowDigests.from(structuredClone(d.export()));
  assert.equal(copy.digest(), d.digest());
  assert.equal(copy.complete, true);
  // The copy goes on as the original would: the same rows give the same digest.
  for (const x of [d, copy]) {
    x.set('S', 'Lamp', 'new', sha256('new'));
    x.delete('S', 'Lamp', `l${n - 1}`);
  }
  assert.equal(copy.digest(), d.digest());
  assert.ok(copy.has('S', 'Lamp', 'new') && !copy.has('S', 'Lamp', `l${n - 1}`));
});
