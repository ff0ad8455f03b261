import { builtinQueryIds } from '@myko/protocol';

/**
 * Model keys of the `$` endpoint: `/` paths onto Myko state (docs/PROTOCOLS.md).
 *
 *   ITEMTYPE                       every item of the type, sorted by id         → MItem[]
 *   ITEMTYPE?f=v&g=w               items whose fields equal the values          → MItem[]
 *   ITEMTYPE/ID                    one item                                     → MItem | null
 *   ITEMTYPE/ID/FIELD              one field of one item                        → value | null
 *   query/QUERYID/ITEMTYPE?p=v     a named Myko query with params               → MItem[]
 *   report/REPORTID?p=v            a Myko report with params                    → its value
 *
 * Each segment is percent-decoded, so an id holding `/` (or `?`, `%`) is
 * written `%2F` (`%3F`, `%25`). Parameters are `application/x-www-form-urlencoded`;
 * a value that parses as JSON is taken as that JSON (`n=5` is the number 5,
 * `ids=["a","b"]` an array, `ok=true` a boolean), anything else as the
 * string itself (`status=online`); quote it to force a string (`n=%225%22`).
 */
export type ModelKey =
  | { kind: 'collection'; queryId: string; itemType: string; params: Record<string, unknown> }
  | { kind: 'item'; itemType: string; id: string; field: string | undefined }
  | { kind: 'report'; reportId: string; params: Record<string, unknown> };

export type ParsedKey = { ok: true; key: ModelKey } | { ok: false; message: string };

/** Maximum key length: keys are names, not payloads. */
export const maxKeyLength = 2048;

export function parseKey(key: string): ParsedKey {
  if (key.length === 0) return fail('a key must not be empty');
  if (key.length > maxKeyLength) return fail(`a key must be at most ${maxKeyLength} characters`);
  const q = key.indexOf('?');
  const path = q < 0 ? key : key.slice(0, q);
  const search = q < 0 ? undefined : key.slice(q + 1);
  const raw = path.split('/');
  const segments: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i]!;
    if (s === '') return fail(`segment ${i + 1} of key ${JSON.stringify(key)} is empty (no leading, trailing or double "/")`);
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return fail(`segment ${i + 1} of key ${JSON.stringify(key)} is not valid percent-encoding`);
    }
    if (decoded === '') return fail(`segment ${i + 1} of key ${JSON.stringify(key)} is empty`);
    segments.push(decoded);
  }
  let params: Record<string, unknown> = {};
  if (search !== undefined) {
    const parsed = parseParams(search);
    if (typeof parsed === 'string') return fail(`${parsed} in key ${JSON.stringify(key)}`);
    params = parsed;
  }
  const hasParams = search !== undefined;
  const head = raw[0]; // the reserved words are matched undecoded: `query%2Fx` is an item type

  if (head === 'query') {
    if (segments.length !== 3) return fail(`a query key is query/QUERYID/ITEMTYPE, got ${JSON.stringify(key)}`);
    return { ok: true, key: { kind: 'collection', queryId: segments[1]!, itemType: segments[2]!, params } };
  }
  if (head === 'report') {
    if (segments.length !== 2) return fail(`a report key is report/REPORTID, got ${JSON.stringify(key)}`);
    return { ok: true, key: { kind: 'report', reportId: segments[1]!, params } };
  }
  const itemType = segments[0]!;
  if (segments.length === 1) {
    const names = builtinQueryIds(itemType);
    return { ok: true, key: { kind: 'collection', queryId: hasParams ? names.byQuery : names.all, itemType, params } };
  }
  if (hasParams) return fail(`parameters are allowed only on ITEMTYPE, query/… and report/… keys, got ${JSON.stringify(key)}`);
  if (segments.length === 2) return { ok: true, key: { kind: 'item', itemType, id: segments[1]!, field: undefined } };
  if (segments.length === 3) return { ok: true, key: { kind: 'item', itemType, id: segments[1]!, field: segments[2]! } };
  return fail(`a key has at most 3 segments (ITEMTYPE/ID/FIELD), got ${segments.length} in ${JSON.stringify(key)}; percent-encode "/" inside an id as %2F`);
}

function parseParams(search: string): Record<string, unknown> | string {
  const out = new Map<string, unknown>();
  for (const part of search.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
      value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return `parameter ${JSON.stringify(part)} is not valid percent-encoding`;
    }
    if (name === '') return `parameter ${JSON.stringify(part)} has no name`;
    if (out.has(name)) return `parameter ${JSON.stringify(name)} is repeated`;
    out.set(name, paramValue(value));
  }
  return Object.fromEntries(out); // own properties, even for a name like __proto__
}

function paramValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function fail(message: string): ParsedKey {
  return { ok: false, message };
}
