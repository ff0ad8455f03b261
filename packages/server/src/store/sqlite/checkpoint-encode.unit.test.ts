import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDelta, inRuns } from './checkpoint.js';

/** The delta's texts as they were made before one JSON.stringify per segment: each entry alone, joined. */
const entryByEntry = (entries: unknown[]): string => '[' + entries.map((e) => JSON.stringify(e)).join(',') + ']';

test('encodeDelta: one segment holds the same text as its entries stringified one by one and joined', () => {
  const upserts = [
    { itemType: 'Lamp', item: { id: 'a', level: 1, nested: { list: [1, 'two', null], empty: {} }, hash: 'h1' }, pids: ['p1'] },
    { itemType: 'Lamp', item: { id: 'b\u0000\u2028"\\', skipped: undefined, level: -0.5e-7 }, pids: [] },
    { itemType: 'Cue', item: { id: 'c', when: '2026-12-07T05:00:00.000Z' }, pids: ['p2', 'p3'] },
  ];
  const deletes = [{ itemType: 'Lamp', id: 'gone', pids: ['p4'] }];
  const d = encodeDelta({ position: 7, eventId: 'e7', chain: 'c7', upserts, deletes, derived: { Rig: ['emitterIds'] } });
  assert.equal(d.segments.length, 1);
  assert.equal(d.entries, 4);
  assert.deepEqual(d.segments[0], {
    body: entryByEntry([...upserts.map((u) => [u.itemType, u.item.id, u.item, u.pids]), ['Lamp', 'gone', null, ['p4']]]),
    entries: 4,
  });
  assert.equal(d.derived, '{"Rig":["emitterIds"]}');
  assert.deepEqual(encodeDelta({ position: 0, eventId: null, chain: '', upserts: [], deletes: [] }).segments, []);
});

test('inRuns: runs of about the target size, in order, each the text of its entries; a run too long for V8 is made again smaller', () => {
  const all = Array.from({ length: 10_000 }, (_, i) => ({ id: `item-${i}`, pad: 'x'.repeat(i % 97) }));
  const runs = inRuns(all, (run) => JSON.stringify(run), 20_000, 100);
  assert.ok(runs.length > 10, `${runs.length} runs`);
  assert.equal(runs[0]!.entries, 100, 'the first run is firstRun entries when the first entry is small');
  // Large entries: the first run is sized from the first one's text, not firstRun.
  const large = Array.from({ length: 50 }, (_, i) => ({ id: `big-${i}`, pad: 'x'.repeat(3_000) }));
  const largeRuns = inRuns(large, (run) => JSON.stringify(run), 20_000);
  assert.equal(largeRuns[0]!.entries, 6, 'about 20,000 characters of 3,000-character entries');
  assert.deepEqual(largeRuns.flatMap((r) => JSON.parse(r.body) as unknown[]), large);
  for (const r of runs.slice(1, -1)) assert.ok(r.body.length > 10_000 && r.body.length < 40_000, `a later run's text is about the target: ${r.body.length}`);
  assert.deepEqual(runs.flatMap((r) => JSON.parse(r.body) as unknown[]), all);
  assert.equal(runs.reduce((n, r) => n + r.entries, 0), all.length);

  // V8 refuses a string past its longest (RangeError: Invalid string length): stand in with a limit of 5,000 characters.
  const tries: number[] = [];
  const limited = (run: typeof all): string => {
    tries.push(run.length);
    const text = JSON.stringify(run);
    if (text.length > 5_000) throw new RangeError('Invalid string length');
    return text;
  };
  const small = inRuns(all, limited, 1_000_000, 4_096);
  assert.deepEqual(small.flatMap((r) => JSON.parse(r.body) as unknown[]), all, 'every entry once, in order');
  assert.ok(small.every((r) => r.body.length <= 5_000));
  assert.deepEqual(tries.slice(0, 4), [1, 4_096, 1_024, 256], 'the first entry sizes the first run; refused runs are made again a quarter the size');
  // One entry that cannot be made is an error, not a loop.
  assert.throws(() => inRuns([{ id: 'big', pad: 'x'.repeat(6_000) }], limited, 1_000_000), RangeError);
  // Any other error is not taken for a long run.
  assert.throws(() => inRuns(all, () => { throw new TypeError('BigInt'); }, 1_000), TypeError);
});
