/**
 * A value as PostgreSQL's jsonb gives it back after JSON.stringify stored it:
 * JSON's rules (undefined and functions dropped from objects, null in arrays,
 * non-finite numbers null, toJSON applied) and each object's keys in jsonb's
 * order (shorter keys first, then by their UTF-8 bytes). The tailer applies a
 * member's own appended events from memory through this, instead of reading
 * them back: every member then holds the same item, key order included, and
 * so sends the same bytes as before (items are cached as JSON, wire-bytes).
 * Numbers need nothing: jsonb keeps the decimal JSON.stringify wrote, which
 * parses back to the same double.
 */
export function asStored(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'number' && !Number.isFinite(value) ? null : value === -0 ? 0 : value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return asStored(JSON.parse(JSON.stringify(value)));
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      out[i] = v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : asStored(v);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  // Boxed primitives, Maps, class instances: let JSON decide, then order.
  if (proto !== Object.prototype && proto !== null) return asStored(JSON.parse(JSON.stringify(value)));
  const keys: string[] = [];
  let ascii = true;
  for (const k of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    keys.push(k);
    if (ascii && !/^[\x00-\x7f]*$/.test(k)) ascii = false;
  }
  keys.sort(ascii ? byLengthThenCode : byUtf8);
  const entries: [string, unknown][] = keys.map((k) => [k, asStored((value as Record<string, unknown>)[k])]);
  // fromEntries defines own properties, as JSON.parse does (a "__proto__" key stays a key).
  return Object.fromEntries(entries);
}

const byLengthThenCode = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
const byUtf8 = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length - y.length || Buffer.compare(x, y);
};
