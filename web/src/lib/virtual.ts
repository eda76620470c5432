/** The rows a virtualised list renders: only those in view, plus a few above and below. */

export interface Range {
  start: number;
  end: number;
}

/** Indices ``[start, end)`` of the rows that intersect the viewport, widened by ``overscan`` rows each way. */
export function visibleRange(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 6,
): Range {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(scrollTop, 0) / rowHeight);
  const last = Math.ceil((Math.max(scrollTop, 0) + Math.max(viewport, 0)) / rowHeight);
  return { start: Math.max(0, Math.min(first - overscan, count)), end: Math.min(count, last + overscan) };
}

/** Whether the viewport is within ``threshold`` rows of the last loaded row (time to fetch the next page). */
export function nearEnd(range: Range, count: number, threshold = 40): boolean {
  return range.end >= count - threshold;
}

/** How many columns of ``min``-wide cells (with ``gap`` between them) fit in ``width``. */
export function columns(width: number, min: number, gap: number): number {
  return Math.max(1, Math.floor((width + gap) / (min + gap)));
}

/** ``items`` cut into rows of ``size`` (the last row may be shorter). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const rows: T[][] = [];
  for (let i = 0; i < items.length; i += size) rows.push(items.slice(i, i + size));
  return rows;
}
