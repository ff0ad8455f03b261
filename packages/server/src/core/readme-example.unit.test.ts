import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { canonicalJson } from '@myko/protocol';
import { computeIdentity, eventIdInput } from './identity.js';

/**
 * The README's worked identity example (section "The event log"), recomputed
 * from the README's own text: each value it shows must be what the code gives,
 * so a reader who recomputes it by hand gets what the server stores.
 */
const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');

/** The two code blocks after "Worked example", as `name = value` maps (the last ` = ` part is the value). */
function exampleBlocks(): Map<string, string>[] {
  const from = readme.indexOf('Worked example');
  assert.ok(from > 0, 'README has the worked example');
  const blocks = [...readme.slice(from).matchAll(/```\n([\s\S]*?)```/g)].slice(0, 2).map((m) => m[1]!);
  return blocks.map(
    (b) =>
      new Map(
        b
          .trim()
          .split('\n')
          .map((line) => {
            const parts = line.split(' = ');
            return [parts[0]!.trim(), parts[parts.length - 1]!.trim()] as [string, string];
          }),
      ),
  );
}

test('the README worked example: every hash of the SET and of the later DEL is what the code computes', () => {
  const [set, del] = exampleBlocks();
  assert.ok(set && del, 'two example blocks');

  // SET Lamp {"id":"lamp-1","level":3,"hash":"h1"} by server-a at 2026-01-02T03:04:05Z.
  const setItem = { id: 'lamp-1', level: 3, hash: 'h1' };
  const a = computeIdentity({ itemType: 'Lamp', changeType: 'SET', item: setItem, createdAt: '2026-01-02T03:04:05Z' }, [], 'server-a', '');
  assert.equal(set.get('canonicalJson(o)'), canonicalJson(setItem));
  assert.equal(set.get('dHash'), a.dHash);
  assert.equal(set.get('ts'), a.ts);
  assert.equal(set.get('id input'), eventIdInput({ cid: 'lamp-1', ct: 'Lamp', dHash: a.dHash, pids: [], src: 'server-a', t: 'SET', ts: a.ts }));
  assert.equal(set.get('_id'), a._id);
  assert.equal(set.get('chain'), a.chain);

  // DEL Lamp {"id":"lamp-1"} by server-a at 2026-01-02T03:04:06.5+01:00: its parent is the SET, its chain follows the SET's.
  const delItem = { id: 'lamp-1' };
  const b = computeIdentity({ itemType: 'Lamp', changeType: 'DEL', item: delItem, createdAt: '2026-01-02T03:04:06.5+01:00' }, [a._id], 'server-a', a.chain);
  assert.equal(del.get('canonicalJson(o)'), canonicalJson(delItem));
  assert.equal(del.get('dHash'), b.dHash);
  assert.equal(del.get('ts'), '2026-01-02T02:04:06.500Z');
  assert.equal(del.get('ts'), b.ts);
  assert.equal(del.get('id input'), eventIdInput({ cid: 'lamp-1', ct: 'Lamp', dHash: b.dHash, pids: [a._id], src: 'server-a', t: 'DEL', ts: b.ts }));
  assert.deepEqual(b.pids, [a._id]);
  assert.equal(del.get('_id'), b._id);
  assert.equal(del.get('chain'), b.chain);
  assert.match(b.chain, /^[0-9a-f]{64}$/);
});
