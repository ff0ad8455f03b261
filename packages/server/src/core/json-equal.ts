import fastEqual from 'fast-deep-equal';

/**
 * Deep equality for what clients send: JSON values, whose objects may have
 * members named `toString`, `valueOf` or `constructor`.
 *
 * fast-deep-equal alone is not safe on them: it calls an object's
 * `valueOf()` / `toString()` when they differ from Object.prototype's, so an
 * item `{"id":"x","toString":1}` threw a TypeError. In State.apply that
 * happened after the event was committed: the rest of the batch was never
 * applied, its submitters were told MYKO_STORE_FAILED for stored events, and
 * the identity chain the next events linked to was broken (found by the
 * fault fuzzer, fault/fuzz.int.test.ts).
 *
 * Plain objects and arrays are compared member by member without calling
 * anything on them; anything else (a Date or RegExp a report returns) keeps
 * fast-deep-equal's meaning.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isPlain(a) || !isPlain(b)) return fastEqual(a, b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

function isPlain(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
