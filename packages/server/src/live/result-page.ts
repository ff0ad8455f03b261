import type { CursorWindow, QueryWindow } from '@myko/protocol';
import { sortedIndex } from './sorted-ids.js';

/**
 * The visible page of a windowed subscription (WIRE.md 6.2): an offset window
 * (`ws:m:query` / `ws:m:query-window`) or a keyset page over the same id
 * order (`ws:m:query-cursor-window`).
 */
export type Page = { kind: 'offset'; window: QueryWindow } | { kind: 'cursor'; cursor: CursorWindow };

export const offsetPage = (window: QueryWindow | undefined): Page | undefined => (window ? { kind: 'offset', window } : undefined);

/** The ids of `page` within `sorted` (ids in lexicographic order). */
export function pageOf(sorted: readonly string[], page: Page): string[] {
  if (page.kind === 'offset') return sorted.slice(page.window.offset, page.window.offset + page.window.limit);
  const { after, before, limit } = page.cursor;
  let start = 0;
  if (after !== undefined) {
    start = sortedIndex(sorted, after);
    if (sorted[start] === after) start++;
  }
  let end = before !== undefined ? sortedIndex(sorted, before) : sorted.length;
  // Only `before`: the `limit` ids just before it (paging backwards). Otherwise the first `limit` from `start`.
  if (before !== undefined && after === undefined) start = Math.max(0, end - limit);
  else end = Math.min(end, start + limit);
  return end > start ? sorted.slice(start, end) : [];
}
