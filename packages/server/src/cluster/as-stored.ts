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
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out[i] = v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : asStored(v);
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  // toJSON (a Date), boxed primitives, Maps, class instances: let JSON decide, then order.
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return asStored(JSON.parse(JSON.stringify(value)));
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  let n = 0;
  let ascii = true;
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    keys[n++] = k;
    if (ascii) for (let i = 0; i < k.length; i++) if (k.charCodeAt(i) > 0x7f) ascii = false;
  }
  keys.length = n;
  if (!ascii) keys.sort(byUtf8);
  else if (!inOrder(keys)) keys.sort(byLengthThenCode);
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = asStored(o[k]);
    // An own property, as JSON.parse makes it: `out.__proto__ = v` would set the prototype instead.
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

const byLengthThenCode = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
const inOrder = (keys: string[]) => {
  for (let i = 1; i < keys.length; i++) if (byLengthThenCode(keys[i - 1]!, keys[i]!) > 0) return false;
  return true;
};
const byUtf8 = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length - y.length || Buffer.compare(x, y);
};
