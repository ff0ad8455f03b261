/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace,
 * `undefined` members dropped, as JSON.stringify would print every scalar.
 * Two servers that canonicalise the same value get the same string, so hashes
 * over it agree everywhere (item hash, WIRE.md 1.5; event identity, 5).
 */
export function canonicalJson(value: unknown): string {
  return write(value) ?? 'null';
}

/** A value's canonical JSON, or undefined where an object member would be dropped (undefined, functions, symbols). */
export function canonicalMember(value: unknown): string | undefined {
  return write(value);
}

function write(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return value.toString();
    default:
      break;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i]) ?? 'null';
    }
    return out + ']';
  }
  const maybeJson = value as { toJSON?: () => unknown };
  if (typeof maybeJson.toJSON === 'function') return write(maybeJson.toJSON());
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = write(obj[key]);
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + v;
  }
  return out + '}';
}
