import { createHash } from 'node:crypto';
import { canonicalJson, type MItem } from '@myko/protocol';

/** WIRE.md 1.5: SHA-256 (hex) of the canonical JSON of the item without `hash`. */
export function itemHash(item: MItem): string {
  const { hash: _omit, ...rest } = item;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}
