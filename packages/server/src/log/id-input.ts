/**
 * The `_id` input of a stored event as verify recomputes it: byte for byte
 * core/identity.ts's eventIdInput, i.e. canonicalJson({cid, ct, dHash, pids,
 * src, t, ts}), but with a string that needs no escaping quoted by hand rather
 * than through JSON.stringify (six calls an event were about a ninth of a
 * verify worker's time; this is ~40% cheaper with the hash). dHash and ts are
 * written as they are: verify has already found dHash equal to a recomputed
 * hex digest and ts equal to an ISO timestamp it made or checked, so neither
 * needs escaping. Anything else (a non-string from a rewritten event
 * included) goes through JSON.stringify as before.
 */
export function verifiedIdInput(cid: unknown, ct: unknown, dHash: string, pids: readonly unknown[], src: unknown, t: unknown, ts: string): string {
  const sorted = pids.length < 2 ? pids : [...pids].sort();
  const p = sorted.length === 0 ? '[]' : sorted.length === 1 ? '[' + quote(sorted[0]) + ']' : JSON.stringify(sorted);
  return '{"cid":' + quote(cid) + ',"ct":' + quote(ct) + ',"dHash":"' + dHash + '","pids":' + p + ',"src":' + quote(src) + ',"t":' + quote(t) + ',"ts":"' + ts + '"}';
}

/** JSON.stringify(v), without the call for a string of no character JSON escapes (", \, controls, lone surrogates). */
function quote(v: unknown): string {
  if (typeof v !== 'string') return String(JSON.stringify(v));
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(v);
  }
  return '"' + v + '"';
}
