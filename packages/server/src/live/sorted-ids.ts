/** Insert/remove in an array kept in lexicographic (UTF-16 code unit) order: the window order of WIRE.md 1.2. */
export function sortedIndex(arr: readonly string[], id: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function sortedInsert(arr: string[], id: string): void {
  const i = sortedIndex(arr, id);
  if (arr[i] !== id) arr.splice(i, 0, id);
}

export function sortedRemove(arr: string[], id: string): void {
  const i = sortedIndex(arr, id);
  if (arr[i] === id) arr.splice(i, 1);
}
