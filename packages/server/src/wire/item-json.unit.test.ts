import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MItem } from '@myko/protocol';
import { itemJson, jsonFrameWithItems } from './item-json.js';
import { diffFrame, diffJson, seedResultFrame, seedResultJson, type DiffParts } from './frames.js';

// The builder main had before the per-item text (frames.ts wrappedJson joined by ','): the bytes must not change.
const before = (itemType: string, items: MItem[]) => items.map((item) => `{"itemType":${JSON.stringify(itemType)},"item":${JSON.stringify(item)}}`).join(',');

const items = (): MItem[] => [
  { id: 'a', n: 1, s: 'plain' },
  { id: 'b"q', text: 'quote " backslash \\ newline \n tab \t', uni: 'é 日本 \u2028 \ud83d\ude00', lone: '\ud800' },
  { id: 'c', nested: { deep: [1, 2.5, -0, 1e21, null, true, { x: 'y' }] }, empty: {}, list: [] },
  { id: 'd', toString: 'member named toString', valueOf: 3, __proto_like: { a: 1 } },
];

// What main sent: the frame as a string, which ws encodes as UTF-8.
const utf8 = (s: string) => Buffer.from(s, 'utf8');

test('jsonFrameWithItems writes the same bytes as the per-item wrapper joined by commas, first call and cached', () => {
  for (const type of ['Item', 'Ty"pe \\ é', '']) {
    for (const [head, tail] of [['[', ']'], ['{"é":[', ']}'], ['', '']]) {
      const list = items();
      assert.deepEqual(jsonFrameWithItems(head!, type, list, tail!), utf8(head + before(type, list) + tail));
      assert.deepEqual(jsonFrameWithItems(head!, type, list, tail!), utf8(head + before(type, list) + tail), 'again, from the cached bytes');
    }
  }
  assert.deepEqual(jsonFrameWithItems('[', 'Item', [], ']'), utf8('[]'));
});

test('diffJson and seedResultJson are byte for byte JSON.stringify of the frame objects (the CBOR path encodes those)', () => {
  const base: DiffParts = { kind: 'query', tx: 't"1', sequence: 0, itemType: 'Item', upserts: items(), deletes: ['x', 'y"'], totalCount: 4, window: undefined, order: undefined };
  const cases: DiffParts[] = [
    base,
    { ...base, kind: 'view', sequence: 7, upserts: [], deletes: [] },
    { ...base, window: { offset: 1, limit: 2 }, order: ['b"q', 'c'] },
    { ...base, order: ['a'] },
  ];
  for (const p of cases) {
    assert.deepEqual(diffJson(p), utf8(JSON.stringify(diffFrame(p))));
    assert.deepEqual(diffJson(p), utf8(JSON.stringify(diffFrame(p))), 'again, cached');
  }
  for (const kind of ['query', 'view'] as const) {
    const list = items();
    assert.deepEqual(seedResultJson('s', 'Item', list, kind), utf8(JSON.stringify(seedResultFrame('s', 'Item', list, kind))));
    assert.deepEqual(seedResultJson('s', 'Item', [], kind), utf8(JSON.stringify(seedResultFrame('s', 'Item', [], kind))));
  }
});

test('the cached text is invisible to the item and is not inherited by a copy', () => {
  const item: MItem = { id: 'i', level: 1 };
  const text = itemJson(item);
  assert.equal(text.toString(), '{"id":"i","level":1}');
  assert.equal(itemJson(item), text, 'the same bytes object, not made again');
  assert.deepEqual(Object.keys(item), ['id', 'level']);
  assert.equal(JSON.stringify(item), text.toString());
  assert.equal(Object.getOwnPropertySymbols({ ...item }).length, 0, 'a spread copies no cached text');
  assert.equal(Object.getOwnPropertySymbols(Object.assign({}, item)).length, 0);
  // A new object built from the old (how state changes an item) gets its own text.
  const next = { ...item, level: 2 };
  assert.equal(itemJson(next).toString(), '{"id":"i","level":2}');
  for (const k in item) assert.ok(k === 'id' || k === 'level');
});

test('a frozen item is encoded without caching', () => {
  const item = Object.freeze({ id: 'f', v: [1] }) as MItem;
  assert.equal(itemJson(item).toString(), '{"id":"f","v":[1]}');
  assert.equal(itemJson(item).toString(), '{"id":"f","v":[1]}');
  assert.equal(Object.getOwnPropertySymbols(item).length, 0);
});
