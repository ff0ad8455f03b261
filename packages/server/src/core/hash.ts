import { canonicalMember, type MItem } from '@myko/protocol';
import { rememberCanonical, sha256 } from './identity.js';

/**
 * WIRE.md 1.5: the item's hash is SHA-256 (hex) of the canonical JSON of the
 * item without `hash`. This returns the item with that hash, serialising it once: the canonical JSON
 * without `hash` (hashed) and with it (remembered for the event's dHash) share
 * every member but one, so the second is spliced from the first's parts.
 */
export function withHash(item: MItem): { hash: string; item: MItem } {
  const keys = Object.keys(item)
    .filter((k) => k !== 'hash')
    .sort();
  const parts: string[] = [];
  const names: string[] = [];
  for (const k of keys) {
    const v = canonicalMember(item[k]);
    if (v === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + v);
    names.push(k);
  }
  const hash = sha256('{' + parts.join(',') + '}');
  let at = 0;
  while (at < names.length && names[at]! < 'hash') at++;
  parts.splice(at, 0, `"hash":${JSON.stringify(hash)}`);
  const out = { ...item, hash };
  rememberCanonical(out, '{' + parts.join(',') + '}');
  return { hash, item: out };
}
