/**
 * Stable ids from names: the same executor code registers the same ids on
 * every run and every reconnect, so controllers' bindings survive restarts.
 */

/** `"Fill with money!"` → `"fill-with-money"`. Throws when nothing is left. */
export function slug(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (s === '') throw new TypeError(`cannot derive an id from the name ${JSON.stringify(name)}: give an explicit id`);
  return s;
}

/** `${parentId}:${slug(name)}`, or the id given. */
export function childId(parentId: string, name: string, id: string | undefined): string {
  if (id !== undefined) {
    if (typeof id !== 'string' || id === '') throw new TypeError('an id must be a non-empty string');
    return id;
  }
  return `${parentId}:${slug(name)}`;
}
