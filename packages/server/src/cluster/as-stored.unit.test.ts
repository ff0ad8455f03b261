import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asStored } from './as-stored.js';

// Expected texts are what PostgreSQL 15 gives back for `$1::jsonb::text` of JSON.stringify(input), reformatted
// without the spaces jsonb puts after ':' and ','.
test('keys in jsonb order (shorter first, then by UTF-8 bytes), at every depth', () => {
  const input = { zz: 1, b: 2, aa: 3, '10': 4, '9': 5, é: 6, z: 7, '\uffff': 8, '😀': 9, nested: { y: [1, { q: 1, p: 2 }], x: 0 } };
  assert.equal(
    JSON.stringify(asStored(input)),
    '{"9":5,"10":4,"b":2,"z":7,"aa":3,"zz":1,"é":6,"\uffff":8,"😀":9,"nested":{"x":0,"y":[1,{"p":2,"q":1}]}}',
  );
});

test("JSON's rules: undefined and functions dropped from objects, null in arrays, non-finite numbers null, toJSON applied", () => {
  const input = { a: undefined, b: () => 1, c: [undefined, () => 1, NaN, Infinity, -0], d: new Date(0), e: -0 };
  assert.equal(JSON.stringify(asStored(input)), '{"c":[null,null,null,null,0],"d":"1970-01-01T00:00:00.000Z","e":0}');
  assert.ok(Object.is((asStored({ e: -0 }) as { e: number }).e, 0));
});

test('a "__proto__" key stays an own key, as JSON.parse leaves it', () => {
  const out = asStored(JSON.parse('{"__proto__":{"x":1},"a":1}')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ['a', '__proto__']);
});
