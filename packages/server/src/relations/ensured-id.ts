import { createHash } from 'node:crypto';

/**
 * The id of the ensured item of `itemType` for these dependency ids (in
 * declaration order): a UUID-shaped digest, so the same combination always
 * gets the same id. Two cluster members, or a restart's repair, that both
 * create it write the same item (an equal SET changes nothing) instead of
 * two items for one combination. JSON keeps ("a:b","c") apart from ("a","b:c").
 */
export function ensuredId(itemType: string, depIds: readonly string[]): string {
  const h = createHash('sha256').update(JSON.stringify([itemType, ...depIds])).digest('hex');
  // Version 5-style bits (name-based), so tools that check UUID shape accept it.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
