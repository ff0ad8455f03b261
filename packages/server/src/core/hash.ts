import { canonicalMember, type MItem } from '@myko/protocol';
import { rememberCanonical, sha256 } from './identity.js';

/**
 * WIRE.md 1.5: the item's hash is SHA-256 (hex) of the canonical JSON of the
 * item without `hash`. This returns the item with that hash, serialising it once: the canonical JSON
 * without `hash` (hashed) and with it (remembered for the event's dHash) share
 * every member but one, so the second is spliced from the first's parts.
 */
export function withHash(item: MItem): { hash: string; item: MItem } {
  // The members before "hash" in canonical (sorted) order and those after it, each joined once:
  // the text hashed is both, the text remembered puts the hash member between them.
  const keys = Object.keys(item).sort();
  let head = '';
  let tail = '';
  for (const k of keys) {
    if (k === 'hash') continue;
    const v = canonicalMember(item[k]);
    if (v === undefined) continue;
    const member = JSON.stringify(k) + ':' + v;
    if (k < 'hash') head = head === '' ? member : head + ',' + member;
    else tail = tail === '' ? member : tail + ',' + member;
  }
  const hash = sha256('{' + (head === '' || tail === '' ? head + tail : head + ',' + tail) + '}');
  // The hash is hex: its JSON string needs no escaping.
  const hashMember = '"hash":"' + hash + '"';
  const out = { ...item, hash };
  rememberCanonical(out, '{' + (head === '' ? '' : head + ',') + hashMember + (tail === '' ? '' : ',' + tail) + '}');
  return { hash, item: out };
}
