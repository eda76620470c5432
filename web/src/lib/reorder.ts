/**
 * Reordering a list by drag and drop or by keys (a playlist's entries): where a dragged row lands, the list after
 * a move, and which key moves an entry where.
 */

/** The index before which a pointer at ``y`` drops, given each row's vertical middle (in order): 0..n. */
export function insertionIndex(middles: readonly number[], y: number): number {
  const index = middles.findIndex((middle) => y < middle);
  return index === -1 ? middles.length : index;
}

/** Where the entry at ``from`` ends up when dropped before the row at ``before`` (rows after it shift up). */
export function dropTarget(from: number, before: number): number {
  return before > from ? before - 1 : before;
}

/** A copy of ``items`` with the item at ``from`` moved to ``to`` (the items between shift by one). */
export function moved<T>(items: readonly T[], from: number, to: number): T[] {
  const copy = [...items];
  const [item] = copy.splice(from, 1);
  if (item === undefined) return copy;
  copy.splice(Math.min(Math.max(to, 0), copy.length), 0, item);
  return copy;
}

/** The new index of the entry at ``index`` of ``count`` for a key press, or null when the key moves nothing. */
export function keyTarget(key: string, index: number, count: number): number | null {
  const target =
    key === 'ArrowUp' ? index - 1 : key === 'ArrowDown' ? index + 1 : key === 'Home' ? 0 : key === 'End' ? count - 1 : null;
  if (target === null || target < 0 || target >= count || target === index) return null;
  return target;
}
