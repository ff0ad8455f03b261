import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventIdInput } from '../core/identity.js';
import { verifiedIdInput } from './id-input.js';

// verify recomputes every _id with verifiedIdInput: it must give the writer's text exactly, whatever the
// strings hold, and for parents and fields that are not strings at all (a rewritten event).
test('verifiedIdInput is eventIdInput byte for byte, escapes and non-strings included', () => {
  const dHash = 'd341a432a98e356c4abdf96a3399e0129c93c974c26988509b56c74f704e3e61';
  const ts = '2023-11-14T22:13:20.499Z';
  const odd = ['', 'plain', 'fixture-12', 'quote"in', 'back\\slash', 'tab\there', 'nul\u0000', 'é ü 中文', 'emoji 😀', 'lone \ud800 high', 'lone \udc00 low', '\u007f\u2028\u2029', '</script>'];
  const pidSets: unknown[][] = [[], [dHash], ['b', 'a'], ['z', 'y', 'x'], ['quote"in'], [5], [null, 'a'], [{ a: 1 }], [['n']]];
  const others: unknown[] = [undefined, null, 7, true, { x: 'y' }, ['q']];
  let n = 0;
  for (const s of [...odd, ...others])
    for (const pids of pidSets) {
      const f = { cid: odd[n % odd.length]!, ct: odd[(n * 3) % odd.length]!, dHash, pids: pids as string[], src: s as string, t: (n % 2 ? 'SET' : s) as string, ts };
      assert.equal(verifiedIdInput(f.cid, f.ct, f.dHash, f.pids, f.src, f.t, f.ts), eventIdInput(f), JSON.stringify(f));
      n++;
    }
  assert.ok(n > 150);
});
