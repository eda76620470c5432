import { describe, expect, it } from 'vitest';
import { chunk, columns, nearEnd, visibleRange } from './virtual';

describe('visibleRange', () => {
  it('covers the viewport plus the overscan, clamped to the list', () => {
    expect(visibleRange(0, 500, 50, 1000, 5)).toEqual({ start: 0, end: 15 });
    expect(visibleRange(10_000, 500, 50, 1000, 5)).toEqual({ start: 195, end: 215 });
    expect(visibleRange(49_900, 500, 50, 1000, 5)).toEqual({ start: 993, end: 1000 });
  });

  it('renders a bounded number of rows whatever the list length', () => {
    const range = visibleRange(50 * 125_000, 900, 50, 250_000, 6);
    expect(range.end - range.start).toBeLessThanOrEqual(900 / 50 + 2 * 6 + 1);
    expect(range.start).toBe(125_000 - 6);
  });

  it('is empty for an empty list and tolerates negative scroll (overscroll bounce)', () => {
    expect(visibleRange(0, 500, 50, 0)).toEqual({ start: 0, end: 0 });
    expect(visibleRange(-80, 500, 50, 3, 2)).toEqual({ start: 0, end: 3 });
  });
});

describe('grid helpers', () => {
  it('fits as many columns as the width allows, at least one', () => {
    expect(columns(1000, 160, 16)).toBe(5);
    expect(columns(100, 160, 16)).toBe(1);
  });

  it('cuts items into rows', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('asks for more rows near the end of what is loaded', () => {
    expect(nearEnd({ start: 0, end: 20 }, 100, 40)).toBe(false);
    expect(nearEnd({ start: 40, end: 61 }, 100, 40)).toBe(true);
  });
});
