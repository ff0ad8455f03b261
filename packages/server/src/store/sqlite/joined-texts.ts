/**
 * Many JSON texts as one string, for the crossing to the store thread (thread.ts): the log rows of a
 * batch (append.ts).
 *
 * Why: JSON.stringify returns a text longer than a few hundred characters as a tree of pieces (V8's
 * string builder), and whatever reads it first (the structured clone to the thread, or SQLite's bind)
 * copies it into one flat string on the young heap: each text a second time. Joined, the pieces are
 * copied once into one large string, which V8 keeps outside the young generation, and the thread
 * splits it into slices of that string, which copy nothing. Ingest allocated 6.8 KB per event, a third
 * of it these texts twice over (sampling heap profile, collected objects included).
 *
 * The separator is NUL: JSON.stringify escapes U+0000 inside strings, so it never occurs in a JSON text.
 */
const SEP = '\u0000';

export const joinTexts = (texts: readonly string[]): string => texts.join(SEP);

/**
 * Strings that are not JSON texts (column values: any string may hold a NUL) joined the same way, when
 * each is a string without the separator; undefined when one is not.
 */
export function joinStrings(values: readonly unknown[]): string | undefined {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'string' || v.includes(SEP)) return undefined;
  }
  return (values as string[]).join(SEP);
}

/** The `count` texts `joinTexts` joined; throws when there are not exactly that many (`what` names them). */
export function splitTexts(joined: string, count: number, what: string): string[] {
  if (count === 0) return [];
  const texts = joined.split(SEP);
  if (texts.length !== count) throw new Error(`${what}: expected ${count} texts, found ${texts.length}`);
  return texts;
}
