import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKey } from './keys.js';

const ok = (key: string) => {
  const r = parseKey(key);
  assert.ok(r.ok, `${key}: ${r.ok ? '' : r.message}`);
  return r.key;
};
const bad = (key: string) => {
  const r = parseKey(key);
  assert.equal(r.ok, false, `${key} should be refused`);
  return r.ok ? '' : r.message;
};

test('ITEMTYPE is every item; with parameters it is the equality query of that type', () => {
  assert.deepEqual(ok('Cue'), { kind: 'collection', queryId: 'GetAllCues', itemType: 'Cue', params: {} });
  assert.deepEqual(ok('TargetStatus?status=online&instanceId=i%2F1'), {
    kind: 'collection',
    queryId: 'GetTargetStatussByQuery',
    itemType: 'TargetStatus',
    params: { status: 'online', instanceId: 'i/1' },
  });
});

test('ITEMTYPE/ID and ITEMTYPE/ID/FIELD, segments percent-decoded', () => {
  assert.deepEqual(ok('Cue/c1'), { kind: 'item', itemType: 'Cue', id: 'c1', field: undefined });
  assert.deepEqual(ok('Cue/c1/label'), { kind: 'item', itemType: 'Cue', id: 'c1', field: 'label' });
  assert.deepEqual(ok('Cue/a%2Fb%3Fc%25/la%20bel'), { kind: 'item', itemType: 'Cue', id: 'a/b?c%', field: 'la bel' });
  assert.deepEqual(ok('My%20Type/%E2%9C%93'), { kind: 'item', itemType: 'My Type', id: '✓', field: undefined });
});

test('query/QUERYID/ITEMTYPE and report/REPORTID take JSON-or-string parameters', () => {
  assert.deepEqual(ok('query/CuesStartingWith/Cue?prefix=Go'), {
    kind: 'collection',
    queryId: 'CuesStartingWith',
    itemType: 'Cue',
    params: { prefix: 'Go' },
  });
  assert.deepEqual(ok('query/GetCuesByIds/Cue?ids=%5B%22a%22%2C%22b%22%5D'), {
    kind: 'collection',
    queryId: 'GetCuesByIds',
    itemType: 'Cue',
    params: { ids: ['a', 'b'] },
  });
  assert.deepEqual(ok('report/CountItems?itemType=Cue'), { kind: 'report', reportId: 'CountItems', params: { itemType: 'Cue' } });
  assert.deepEqual(ok('report/R?n=5&s=%225%22&b=true&z=null&o=%7B%22a%22%3A1%7D&plus=a+b&empty='), {
    kind: 'report',
    reportId: 'R',
    params: { n: 5, s: '5', b: true, z: null, o: { a: 1 }, plus: 'a b', empty: '' },
  });
  // The reserved words are matched before decoding: an item type may still be called "query".
  assert.deepEqual(ok('%71uery/x'), { kind: 'item', itemType: 'query', id: 'x', field: undefined });
});

test('a parameter named __proto__ is an ordinary own property', () => {
  const k = ok('Cue?__proto__=1');
  assert.equal(k.kind, 'collection');
  assert.ok(Object.hasOwn((k as { params: object }).params, '__proto__'));
});

test('malformed keys are refused with a message naming the problem', () => {
  assert.match(bad(''), /empty/);
  assert.match(bad('/Cue'), /segment 1 .* empty/);
  assert.match(bad('Cue/'), /segment 2 .* empty/);
  assert.match(bad('Cue//x'), /segment 2 .* empty/);
  assert.match(bad('Cue/%E0%A4%A'), /percent-encoding/);
  assert.match(bad('Cue/a/b/c'), /at most 3 segments.*%2F/);
  assert.match(bad('Cue/c1?x=1'), /parameters are allowed only/);
  assert.match(bad('query/GetAllCues'), /query\/QUERYID\/ITEMTYPE/);
  assert.match(bad('report/a/b'), /report\/REPORTID/);
  assert.match(bad('Cue?a=1&a=2'), /repeated/);
  assert.match(bad('Cue?=1'), /no name/);
  assert.match(bad('x'.repeat(5000)), /at most/);
});
