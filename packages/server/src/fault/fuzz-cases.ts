/**
 * Generated frames for the fuzz test (fuzz.int.test.ts), with fast-check.
 * Each endpoint gets a mix of: random JSON values; near-valid messages of
 * every kind it knows (fields valid, missing or of the wrong type); huge
 * strings at the frame limit, just above it and in between; JSON nested
 * thousands deep; text frames that are not UTF-8; binary frames (CBOR of
 * frames, CBOR with hostile headers and tags, random bytes).
 *
 * Nothing here writes the item types the test checks for loss
 * (`FaultValid`): the fuzzer may store anything else.
 */
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { Kind } from '@myko/protocol';

export interface FuzzCase {
  /** What it is, for the counts and for failure messages. */
  label: string;
  data: string | Buffer;
  /** Sent as a binary frame (else text, even when `data` is a Buffer: invalid UTF-8). */
  binary: boolean;
  /** Above hardMaxFrameBytes: the server closes the socket with 1009. */
  hard?: boolean;
}

export interface FuzzLimits {
  maxFrameBytes: number;
  hardMaxFrameBytes: number;
}

const DEEP = '@@DEEP@@';
const HUGE = '@@HUGE@@';

// ---------------------------------------------------------------- building blocks

/** Item types the fuzzer writes and queries: its own, the built-ins and the rship plugin's (never FaultValid). */
const itemTypeNames = ['Fz', 'FzOther', 'Cue', 'Target', 'Action', 'Emitter', 'Pulse', 'Instance', 'TargetStatus', 'Machine', 'Service', 'Client', 'Server', 'RestorePoint'];
const commandIds = ['CreateRestorePoint', 'RestoreToPoint', 'ExecTargetAction', 'BatchTargetAction', 'CompactBatchTargetAction', 'ResendEmitterValue', 'SetClientId', 'NoSuchCommand'];
const trickyKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'id', 'tx', 'hash', 'itemType', 'asOf', 'window', 'ids', ''];

const shortString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', '\ud800', '\udfff', 'a/b', '%2F', '%', '..', 'null', '1e999', '__proto__') },
);

/** Any JSON value, small. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', [], {}, [null], { '': null }) },
  { weight: 2, arbitrary: shortString },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...trickyKeys), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
);

const maybe = <T>(a: fc.Arbitrary<T>, undefinedWeight = 1): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 3, arbitrary: a }, { weight: undefinedWeight, arbitrary: fc.constant(undefined) });

/** Usually right, sometimes wrong-typed. */
const mostly = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | unknown> => fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: junk });

const itemType = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...itemTypeNames) }, { weight: 1, arbitrary: shortString });
const anId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'b', 'c', 'x/y', 'q?1', '%41', '__proto__', 'constructor') }, { weight: 3, arbitrary: shortString });
const params = fc.dictionary(fc.oneof(fc.constantFrom(...trickyKeys), fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
const isoDate = fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString());
const tx = fc.oneof({ weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 10 }) }, { weight: 1, arbitrary: junk });

/** Strip `undefined` members so JSON and CBOR agree. */
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const item = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(anId, params).map(([id, rest]) => ({ ...rest, id })) },
  { weight: 1, arbitrary: params },
  { weight: 1, arbitrary: junk },
);

/** Events the server should store: types without a schema, SET or DEL, an item with a string id. */
const storableEvent = fc
  .record({
    itemType: fc.constantFrom('Fz', 'FzOther', 'Cue', 'Lamp'),
    changeType: fc.constantFrom('SET', 'SET', 'SET', 'DEL'),
    item: fc.tuple(anId, params).map(([id, rest]) => ({ ...rest, id })),
    tx: maybe(fc.string({ minLength: 1, maxLength: 10 })),
    createdAt: maybe(isoDate, 3),
  })
  .map(defined);

const event = fc.oneof({ weight: 3, arbitrary: storableEvent }, { weight: 2, arbitrary: fc
  .record({
    itemType: mostly(itemType),
    changeType: mostly(fc.constantFrom('SET', 'SET', 'DEL', 'set', 'PATCH')),
    item,
    tx: maybe(tx),
    createdAt: maybe(mostly(isoDate), 3),
    sourceId: maybe(junk, 6),
    clientId: maybe(junk, 8),
  })
  .map(defined) });

const windowArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.record({ offset: mostly(fc.integer({ min: -5, max: 50 })), limit: mostly(fc.integer({ min: -5, max: 50 })) }),
  junk,
);

const asOf = fc.oneof(
  fc.record({ position: mostly(fc.integer({ min: -1, max: 10_000 })) }),
  fc.record({ time: mostly(isoDate) }),
  junk,
);

// ---------------------------------------------------------------- Myko (/myko)

const mykoData: Record<string, fc.Arbitrary<unknown>> = {
  [Kind.Event]: fc.oneof({ weight: 5, arbitrary: event }, { weight: 1, arbitrary: junk }),
  [Kind.EventBatch]: fc.oneof(
    { weight: 4, arbitrary: fc.array(storableEvent, { maxLength: 12 }) },
    { weight: 4, arbitrary: fc.array(event, { maxLength: 12 }) },
    { weight: 1, arbitrary: fc.record({ events: fc.array(event, { maxLength: 5 }) }) },
    { weight: 1, arbitrary: junk },
  ),
  [Kind.Query]: fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(itemType, fc.constantFrom('GetAll%s', 'Get%sByIds', 'Get%sByQuery', 'NoSuch%sQuery'), tx, params, fc.boolean(), fc.nat(19), asOf, windowArb)
        .map(([t, pattern, qtx, p, plural, r, at, w]) =>
          defined({
            queryId: pattern.replace('%s', plural ? `${t}s` : t),
            queryItemType: t,
            query: { ...p, tx: qtx, ...(r === 0 ? { asOf: at } : {}), ...(r === 1 ? { ids: [t, 'a', 'b'] } : {}) },
            window: w,
          }),
        ),
    },
    { weight: 1, arbitrary: fc.record({ queryId: junk, queryItemType: junk, query: junk, window: junk }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  ),
  [Kind.QueryWindow]: fc.oneof(fc.record({ tx, window: windowArb }).map(defined), junk),
  [Kind.QueryCancel]: fc.oneof(tx, fc.record({ tx }), junk),
  [Kind.QueryCursorWindow]: fc.oneof(
    fc.record({ tx, window: fc.record({ after: maybe(mostly(fc.string({ maxLength: 4 }))), before: maybe(mostly(fc.string({ maxLength: 4 }))), limit: mostly(fc.integer({ min: -2, max: 20 })) }).map(defined) }),
    junk,
  ),
  [Kind.View]: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom('GetTargetViews', 'GetTargetTreeByParentFiltered', 'NoSuchView'), tx, params, windowArb).map(([viewId, vtx, p, w]) =>
        defined({ viewId, viewItemType: 'TargetView', view: { ...p, tx: vtx }, window: w }),
      ),
    },
    { weight: 1, arbitrary: fc.record({ viewId: junk, viewItemType: junk, view: junk, window: junk }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  ),
  [Kind.ViewWindow]: fc.oneof(fc.record({ tx, window: windowArb }).map(defined), junk),
  [Kind.ViewCancel]: fc.oneof(tx, fc.record({ tx }), junk),
  [Kind.Report]: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(itemType, fc.constantFrom('Get%ssCount', 'CountItems', 'NoSuchReport'), tx, params, fc.nat(19), asOf).map(([t, id, rtx, p, r, at]) => ({
        reportId: id.replace('%s', t),
        report: { ...p, tx: rtx, ...(id === 'CountItems' && r > 3 ? { itemType: t } : {}), ...(r === 0 ? { asOf: at } : {}) },
      })),
    },
    { weight: 1, arbitrary: fc.record({ reportId: junk, report: junk }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  ),
  [Kind.ReportCancel]: fc.oneof(tx, fc.record({ tx }), junk),
  [Kind.Command]: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...commandIds), tx, params, anId, shortString).map(([commandId, ctx, p, id, name]) => ({
        commandId,
        command: { ...p, tx: ctx, ...(commandId === 'RestoreToPoint' ? { id } : {}), ...(commandId === 'CreateRestorePoint' ? { name } : {}) },
      })),
    },
    { weight: 1, arbitrary: fc.record({ commandId: junk, command: junk }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  ),
  [Kind.CommandResponse]: fc.oneof(fc.record({ tx, response: junk }, { requiredKeys: [] }), junk),
  [Kind.CommandError]: fc.oneof(fc.record({ tx, commandId: junk, message: junk, code: junk }, { requiredKeys: [] }), junk),
  [Kind.Ping]: fc.oneof(fc.record({ id: junk, timestamp: junk }, { requiredKeys: [] }), junk),
};
// Kinds only servers send, and names that are no kind at all: their data is anything.
const otherKinds = fc.oneof(
  fc.constantFrom(Kind.QueryResponse, Kind.QueryError, Kind.ReportResponse, Kind.ReportError, Kind.Error, 'ws:m:', 'ws:m:event ', 'WS:M:EVENT', ''),
  shortString,
);

const mykoFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  ...Object.entries(mykoData).map(([kind, data]) => ({
    weight: kind === Kind.Event || kind === Kind.EventBatch || kind === Kind.Query ? 4 : 2,
    arbitrary: fc.tuple(data, maybe(junk, 8)).map(([d, topTx]) => defined({ event: kind, data: d, tx: topTx })),
  })),
  { weight: 2, arbitrary: fc.tuple(otherKinds, junk).map(([event, data]) => ({ event, data })) },
  { weight: 1, arbitrary: fc.record({ event: junk, data: junk }, { requiredKeys: [] }) },
);

// ---------------------------------------------------------------- `$` models (/models)

/** Percent-encode what can be encoded; a lone surrogate stays as it is (a key that does not parse). */
const encode = (s: string): string => {
  try {
    return encodeURIComponent(s);
  } catch {
    return s;
  }
};

const seg = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...itemTypeNames, 'a', 'b', 'label', 'id', 'query', 'report', '%71uery') },
  { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 8 }).map(encode) },
  { weight: 1, arbitrary: fc.constantFrom('', '%', '%Z1', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%00', '+', '..', '?', '&', '=') },
  { weight: 1, arbitrary: shortString },
);
const paramPair = fc
  .tuple(fc.oneof(fc.constantFrom(...trickyKeys), fc.string({ maxLength: 5 })), fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), shortString))
  .map(([k, v]) => `${encode(k)}=${encode(v)}`);
const query = fc.oneof(fc.constant(''), fc.array(paramPair, { minLength: 1, maxLength: 4 }).map((ps) => `?${ps.join('&')}`), shortString.map((s) => `?${s}`));
const modelKey = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.array(seg, { minLength: 1, maxLength: 4 }), query).map(([segs, q]) => segs.join('/') + q) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('query/GetAllFzs/Fz', 'query/GetFzsByQuery/Fz', 'query/GetFzsByIds/Fz', 'query/Nope/Fz', 'report/GetFzsCount', 'report/CountItems', 'report/Nope'), query).map(([k, q]) => k + q) },
  { weight: 1, arbitrary: shortString },
  { weight: 1, arbitrary: fc.nat(3000).map((n) => 'Fz/' + 'k'.repeat(n)) },
);
const handler = fc.oneof(
  { weight: 4, arbitrary: itemType.chain((t) => fc.constantFrom(`set:${t}`, `del:${t}`)) },
  { weight: 3, arbitrary: fc.constantFrom(...commandIds, 'set:', 'del:', 'set', ':') },
  { weight: 1, arbitrary: junk },
);
const target = fc.oneof({ weight: 5, arbitrary: fc.record({ key: handler, propKey: maybe(shortString, 3), path: maybe(junk, 5) }).map(defined) }, { weight: 1, arbitrary: junk });
const payload = fc.oneof({ weight: 3, arbitrary: item }, { weight: 1, arbitrary: fc.tuple(anId, shortString).map(([id, name]) => ({ id, name })) }, { weight: 2, arbitrary: junk });
const modelsMessage: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ $: fc.constantFrom('sub', 'unsub'), keys: fc.oneof({ weight: 5, arbitrary: fc.array(modelKey, { maxLength: 6 }) }, { weight: 1, arbitrary: junk }) }) },
  {
    weight: 3,
    arbitrary: fc
      .record({ key: mostly(fc.string({ minLength: 1, maxLength: 8 })), event: fc.record({ target, payload: maybe(payload), modelState: maybe(junk), dataState: maybe(junk, 4) }).map(defined) })
      .map((m) => ({ $: 'evt', ...m })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ key: mostly(fc.string({ minLength: 1, maxLength: 8 })), target, payload: maybe(payload), modelState: maybe(junk) })
      .map((m) => defined({ $: 'evt', ...m })),
  },
  { weight: 1, arbitrary: fc.record({ $: fc.constantFrom('evt', 'sub', 'unsub', 'up', 'evt-res', 'error'), key: junk, keys: junk, event: junk, target: junk }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ $: junk }) },
  { weight: 1, arbitrary: junk },
);

// ---------------------------------------------------------------- EventRPC (/eventrpc)

const aggregateId = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(itemType, anId).map(([t, id]) => `${t}/${id}`) },
  { weight: 2, arbitrary: fc.tuple(itemType, fc.constantFrom('GetAll%s', 'Get%sByIds', 'Get%sByQuery', 'Get%sCount')).map(([t, q]) => (q.endsWith('Count') ? q.replace('%s', `${t}s`) : `${q.replace('%s', `${t}s`)}/${t}`)) },
  { weight: 1, arbitrary: fc.constantFrom('CountItems', '/', 'Fz/', '/a', 'Fz') },
  { weight: 1, arbitrary: shortString },
);
const rpcPayload: Record<string, fc.Arbitrary<unknown>> = {
  subscribe: fc
    .record({ to: mostly(fc.constantFrom('aggregate', 'projection', 'event', 'nothing')), id: mostly(aggregateId), 'event-name': maybe(mostly(fc.constantFrom('SET', 'DEL', 'PATCH')), 4), params: maybe(mostly(params), 2) })
    .map(defined),
  unsubscribe: fc.record({ 'correlation-id': maybe(mostly(fc.string({ minLength: 1, maxLength: 8 }))) }).map(defined),
  command: fc.record({ id: mostly(aggregateId), type: mostly(fc.constantFrom('SET', 'DEL', ...commandIds)), data: mostly(fc.oneof(payload, params)) }).map(defined),
};
const rpcType = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('subscribe', 'unsubscribe', 'command') }, { weight: 1, arbitrary: fc.constantFrom('update', 'result', 'Command', '') }, { weight: 1, arbitrary: junk });
const envelope: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(rpcType, fc.nat(9))
      .chain(([type, r]) =>
        fc.record(
          {
            version: mostly(fc.constantFrom('v0.0.1', 'v9', '')),
            'app-name': mostly(fc.string({ maxLength: 6 })),
            'app-id': mostly(fc.string({ maxLength: 6 })),
            timestamp: mostly(fc.oneof(fc.nat(), fc.double(), fc.integer({ min: -10, max: 0 }))),
            'correlation-id': mostly(fc.string({ minLength: 1, maxLength: 6 })),
            type: fc.constant(type),
            meta: maybe(mostly(params), 2),
            payload: typeof type === 'string' && Object.hasOwn(rpcPayload, type) ? mostly(rpcPayload[type]!) : junk,
          },
          // Mostly whole envelopes, so the payloads are reached; sometimes with members missing.
          r === 0 ? { requiredKeys: [] } : { requiredKeys: ['version', 'app-name', 'app-id', 'timestamp', 'correlation-id', 'type', 'payload'] },
        ),
      )
      .map((o) => defined(o as Record<string, unknown>)),
  },
  { weight: 1, arbitrary: junk },
);

// ---------------------------------------------------------------- hostile encodings

const cborPlain = new Encoder({ useRecords: false, mapsAsObjects: true });
const cborRich = new Encoder({ structuredClone: true, useRecords: true });

/** Bytes: CBOR headers claiming huge lengths, deep nesting, tags (cbor-x's extensions included), random bytes. */
const cborGarbage: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 400 }).map((a) => Buffer.from(a)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(0x5b, 0x7b, 0x9b, 0xbb, 0x5a, 0x7a, 0x9a, 0xba), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ maxLength: 32 }))
      .map(([major, len, tail]) => {
        // Low bits 27: an 8-byte length follows; 26: a 4-byte one. Either way, far more than the frame holds.
        const lengthBytes = (major & 0x1f) === 0x1b ? 8 : 4;
        return Buffer.concat([Buffer.from([major]), Buffer.from(len).subarray(0, lengthBytes), Buffer.from(tail)]);
      }),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0x81, 0xa1, 0x9f), fc.integer({ min: 100, max: 200_000 })).map(([b, n]) => Buffer.concat([Buffer.alloc(n, b), Buffer.from([0x00])])) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 21, 24, 25, 26, 27, 28, 29, 30, 32, 35, 37, 51, 52, 64, 65, 72, 78, 85, 86, 105, 256, 258, 259, 57344, 55799), fc.nat(70000)), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 16 }))
      .map(([tag, v, tail]) => {
        const head = tag < 24 ? Buffer.from([0xc0 | tag]) : tag < 256 ? Buffer.from([0xd8, tag]) : Buffer.from([0xd9, (tag >> 8) & 0xff, tag & 0xff]);
        return Buffer.concat([head, cborPlain.encode(v), Buffer.from(tail)]);
      }),
  },
  // A valid frame, then bytes flipped.
  {
    weight: 2,
    arbitrary: fc.tuple(mykoFrame, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 })).map(([f, flips]) => {
      const b = Buffer.from(cborPlain.encode(f));
      for (const [at, v] of flips) b[at % b.length] = v;
      return b;
    }),
  },
  // Rich CBOR: records, shared references and cycles (structured clone), typed arrays, dates, maps with non-string keys, BigInt.
  {
    weight: 2,
    arbitrary: fc.tuple(mykoFrame, fc.nat(5)).map(([f, r]) => {
      const v: Record<string, unknown> = { ...f };
      if (r === 0) v.self = v;
      if (r === 1) v.data = new Map<unknown, unknown>([[1, 'one'], [{ k: 1 }, 'obj'], ['event', 'x']]);
      if (r === 2) v.data = { at: new Date(), big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]), f64: new Float64Array([1.5]) };
      if (r === 3) v.data = new Set([1, 2, 3]);
      if (r === 4) v.data = { items: [1n, -1n, 2n ** 64n] };
      return Buffer.from(cborRich.encode(v));
    }),
  },
);

/** Replace bytes of a UTF-8 text with sequences that are not UTF-8. */
const invalidUtf8 = (text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
  fc
    .tuple(text, fc.nat(), fc.constantFrom([0xff], [0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]), fc.boolean())
    .map(([t, at, bad, end]) => {
      const b = Buffer.from(t, 'utf8');
      const i = end ? b.length : at % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), Buffer.from(bad), b.subarray(i)]);
    });

// ---------------------------------------------------------------- deep nesting and huge strings

const depth = fc.oneof(fc.integer({ min: 100, max: 3_000 }), fc.integer({ min: 3_000, max: 40_000 }), fc.integer({ min: 40_000, max: 160_000 }));
const deepText = fc.tuple(fc.constantFrom('array', 'object', 'mixed'), depth).map(([shape, d]) => {
  if (shape === 'array') return '['.repeat(d) + ']'.repeat(d);
  if (shape === 'object') return '{"a":'.repeat(d) + '1' + '}'.repeat(d);
  return '[{"a":'.repeat(d >> 1) + 'null' + '}]'.repeat(d >> 1);
});

/** A JSON text of `template` with the DEEP (or HUGE) marker replaced by `fill`. */
function fillMarker(template: unknown, marker: string, fill: string): string {
  const text = JSON.stringify(template);
  const quoted = JSON.stringify(marker);
  const at = text.indexOf(quoted);
  if (at < 0) return text;
  return text.slice(0, at) + fill + text.slice(at + quoted.length);
}

/** A string of exactly `bytes` UTF-8 bytes, with multi-byte characters in it (the limit counts bytes, not characters). */
export function bytesString(bytes: number): string {
  const unit = 'é€😀abc';
  const unitBytes = Buffer.byteLength(unit);
  let s = unit.repeat(Math.floor(bytes / unitBytes));
  s += 'x'.repeat(bytes - Buffer.byteLength(s));
  return s;
}

/** `template` as JSON with the HUGE marker replaced by a string so the whole text is exactly `total` bytes (when it can be). */
function sizedFrame(template: unknown, total: number): string {
  const base = Buffer.byteLength(fillMarker(template, HUGE, '""'));
  return fillMarker(template, HUGE, JSON.stringify(bytesString(Math.max(0, total - base))));
}

// Where a deep or huge value goes, per endpoint. Several reach code that recurses (validators, hashing, encoders).
const mykoSlots = (m: string) => [
  m,
  { event: m, data: {} },
  { event: Kind.Event, data: m },
  { event: Kind.Event, data: { itemType: 'Fz', changeType: 'SET', item: { id: 'deep', v: m } } },
  { event: Kind.Event, data: { itemType: 'Fz', changeType: 'SET', item: { id: 'deep', hash: 'h', v: m } } },
  { event: Kind.Event, data: { itemType: m, changeType: 'SET', item: { id: 'x' } } },
  { event: Kind.Event, data: { itemType: 'Fz', changeType: 'SET', item: { id: m } } },
  { event: Kind.Event, data: { itemType: 'Fz', changeType: 'SET', item: { id: 'x' }, tx: m } },
  { event: Kind.EventBatch, data: [{ itemType: 'Fz', changeType: 'SET', item: { id: 'y' } }, m] },
  { event: Kind.Query, data: { queryId: 'GetFzsByQuery', queryItemType: 'Fz', query: { tx: 'dq', label: m } } },
  { event: Kind.Query, data: { queryId: 'GetFzsByIds', queryItemType: 'Fz', query: { tx: 'dq2', ids: m } } },
  { event: Kind.Query, data: { queryId: 'GetAllFzs', queryItemType: 'Fz', query: { tx: 'dq3' }, window: m } },
  { event: Kind.Query, data: { queryId: 'GetAllFzs', queryItemType: 'Fz', query: { tx: 'dq4', asOf: m } } },
  { event: Kind.Query, data: { queryId: m, queryItemType: 'Fz', query: { tx: m } } },
  { event: Kind.QueryWindow, data: { tx: 'dq3', window: m } },
  { event: Kind.QueryCancel, data: m },
  { event: Kind.Report, data: { reportId: 'CountItems', report: { tx: 'dr', itemType: m } } },
  { event: Kind.Report, data: { reportId: 'GetFzsCount', report: { tx: 'dr2', p: m } } },
  { event: Kind.ReportCancel, data: { tx: m } },
  { event: Kind.Command, data: { commandId: 'CreateRestorePoint', command: { tx: 'dc', name: m } } },
  { event: Kind.Command, data: { commandId: 'RestoreToPoint', command: { tx: 'dc2', id: m } } },
  { event: Kind.Command, data: { commandId: 'ExecTargetAction', command: { tx: 'dc3', action: m, data: m } } },
  { event: Kind.Command, data: { commandId: m, command: { tx: m } } },
  { event: Kind.CommandResponse, data: { tx: 'none', response: m } },
  { event: Kind.CommandError, data: { tx: 'none', message: m, code: m } },
  { event: Kind.Ping, data: m },
  { event: Kind.Ping, data: { id: m } },
];
const modelsSlots = (m: string) => [
  m,
  { $: m },
  { $: 'sub', keys: m },
  { $: 'sub', keys: [m] },
  { $: 'unsub', keys: [m] },
  { $: 'evt', key: m, target: { key: 'set:Fz' }, payload: { id: 'd' } },
  { $: 'evt', key: 'k', target: { key: 'set:Fz' }, payload: { id: 'deep', v: m } },
  { $: 'evt', key: 'k', target: { key: 'set:Fz' }, payload: m },
  { $: 'evt', key: 'k', target: { key: 'del:Fz' }, payload: m },
  { $: 'evt', key: 'k', target: { key: 'CreateRestorePoint' }, payload: { name: m } },
  { $: 'evt', key: 'k', target: { key: 'ExecTargetAction' }, payload: m },
  { $: 'evt', key: 'k', target: m, payload: {} },
  { $: 'evt', key: 'k', target: { key: m } },
  { $: 'evt', key: 'k', event: m },
  { $: 'evt', key: 'k', event: { target: { key: 'set:Fz' }, payload: { id: 'n', v: m }, modelState: m } },
];
const envelopeOf = (type: unknown, payload: unknown, extra: Record<string, unknown> = {}) => ({
  version: 'v0.0.1',
  'app-name': 'fuzz',
  'app-id': 'f',
  timestamp: 1,
  'correlation-id': 'c',
  type,
  payload,
  ...extra,
});
const rpcSlots = (m: string) => [
  m,
  envelopeOf('subscribe', m),
  envelopeOf(m, {}),
  envelopeOf('command', {}, { 'correlation-id': m }),
  envelopeOf('command', {}, { meta: m }),
  envelopeOf('command', {}, { version: m }),
  envelopeOf('subscribe', { to: 'aggregate', id: m }),
  envelopeOf('subscribe', { to: 'projection', id: 'GetFzsByQuery/Fz', params: { label: m } }),
  envelopeOf('subscribe', { to: 'projection', id: 'CountItems', params: { itemType: m } }),
  envelopeOf('subscribe', { to: 'event', id: 'Fz/a', 'event-name': m }),
  envelopeOf('unsubscribe', { 'correlation-id': m }),
  envelopeOf('command', { id: 'Fz/deep', type: 'SET', data: { v: m } }),
  envelopeOf('command', { id: 'Fz/deep', type: 'SET', data: m }),
  envelopeOf('command', { id: m, type: 'DEL', data: {} }),
  envelopeOf('command', { id: 'Fz/a', type: 'CreateRestorePoint', data: { name: m } }),
  envelopeOf('command', { id: 'Fz/a', type: 'ExecTargetAction', data: { action: m } }),
];
const slots = { myko: mykoSlots, models: modelsSlots, eventrpc: rpcSlots };
export type Endpoint = keyof typeof slots;

function deepCase(endpoint: Endpoint): fc.Arbitrary<FuzzCase> {
  const n = slots[endpoint](DEEP).length;
  return fc.tuple(fc.nat(n - 1), deepText).map(([i, deep]) => ({ label: 'deep nesting', data: fillMarker(slots[endpoint](DEEP)[i], DEEP, deep), binary: false }));
}

/** Huge strings: exactly at the frame limit (accepted), a few bytes above it (refused, socket kept), and sizes between. */
function hugeCase(endpoint: Endpoint, limits: FuzzLimits): fc.Arbitrary<FuzzCase> {
  const n = slots[endpoint](HUGE).length;
  // At the limit, a write that is stored: a huge item must go through the whole path (log, state, fan-out).
  const atLimit =
    endpoint === 'myko'
      ? { event: Kind.Event, data: { itemType: 'FzHuge', changeType: 'SET', item: { id: 'huge', label: HUGE } } }
      : endpoint === 'models'
        ? { $: 'evt', key: 'huge', target: { key: 'set:FzHuge' }, payload: { id: 'huge', label: HUGE } }
        : envelopeOf('command', { id: 'FzHuge/huge', type: 'SET', data: { label: HUGE } });
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({ label: 'huge string at the frame limit', data: sizedFrame(atLimit, limits.maxFrameBytes), binary: false }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }).map((k) => ({ label: 'huge string just above the frame limit', data: sizedFrame(atLimit, limits.maxFrameBytes + k), binary: false })) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.nat(n - 1), fc.integer({ min: 1_000, max: limits.maxFrameBytes + 1_000 })).map(([i, size]) => ({
        label: 'huge string',
        data: sizedFrame(slots[endpoint](HUGE)[i], size),
        binary: false,
      })),
    },
  );
}

/** Just above hardMaxFrameBytes: not buffered, the socket is closed with 1009 (docs/ERRORS.md). */
export function hardCase(limits: FuzzLimits, binary: boolean): FuzzCase {
  return { label: 'frame above the hard limit', data: Buffer.alloc(limits.hardMaxFrameBytes + 1, 0x20), binary, hard: true };
}

const asText = (label: string, a: fc.Arbitrary<unknown>): fc.Arbitrary<FuzzCase> => a.map((v) => ({ label, data: JSON.stringify(v) ?? 'null', binary: false }));

/** Every kind of case for one endpoint, weighted towards messages it can read. */
export function fuzzCases(endpoint: Endpoint, limits: FuzzLimits): fc.Arbitrary<FuzzCase> {
  const message = endpoint === 'myko' ? mykoFrame : endpoint === 'models' ? modelsMessage : envelope;
  return fc.oneof(
    { weight: 3, arbitrary: asText('random JSON value', fc.jsonValue({ maxDepth: 6 })) },
    { weight: 20, arbitrary: asText('message of a known kind', message) },
    { weight: 3, arbitrary: deepCase(endpoint) },
    { weight: 1, arbitrary: hugeCase(endpoint, limits) },
    { weight: 3, arbitrary: invalidUtf8(message.map((v) => JSON.stringify(v) ?? 'null')).map((data) => ({ label: 'invalid UTF-8 text', data, binary: false })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((data) => ({ label: 'text that is not JSON', data, binary: false })) },
    { weight: endpoint === 'myko' ? 4 : 1, arbitrary: cborGarbage.map((data) => ({ label: 'CBOR garbage', data, binary: true })) },
    { weight: endpoint === 'myko' ? 4 : 1, arbitrary: message.map((v) => ({ label: 'CBOR message', data: Buffer.from(cborPlain.encode(v)), binary: true })) },
  );
}
