/**
 * `{ ...o, [key]: value }`, the same object, built so that V8 shares one hidden class among the results.
 *
 * Why: in Node 20's V8 (11.3), an object spread followed by a member the source lacks gives nearly
 * every result a hidden class of its own (after the first few calls of a site). Each result then
 * carries a private map and descriptor array, about 230 B more per object, all in the old generation
 * once the object lives on, and every inline cache that reads such objects goes megamorphic. On the
 * event path that was every item in state (its `hash` added by hashItem), every ephemeral event (its
 * `position`) and every event the cluster tailer read. `Object.assign` onto a fresh literal, then
 * the member set, takes the ordinary transitions and shares the class (packages/server/src/core/copy-with.unit.test.ts
 * checks both the class and the result).
 *
 * Same result as the spread: own enumerable members in order, `key` kept in its place when `o` has
 * it, appended otherwise. The one difference of Object.assign, that a member named `__proto__` would
 * set the copy's prototype instead of becoming a member, is avoided by taking the spread for such an
 * object (JSON.parse makes that member an own one), and for that key.
 */
export function copyWith<T extends object, K extends string, V>(o: T, key: K, value: V): T & { [P in K]: V } {
  if (key === '__proto__' || Object.hasOwn(o, '__proto__')) return { ...o, [key]: value } as T & { [P in K]: V };
  const out = Object.assign({}, o) as Record<string, unknown>;
  out[key] = value;
  return out as T & { [P in K]: V };
}
