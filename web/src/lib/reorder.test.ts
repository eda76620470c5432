import { describe, expect, it } from 'vitest';
import { dropTarget, insertionIndex, keyTarget, moved } from './reorder';

describe('insertionIndex', () => {
  const middles = [25, 75, 125];

  it('drops before the first row whose middle is below the pointer', () => {
    expect(insertionIndex(middles, 0)).toBe(0);
    expect(insertionIndex(middles, 30)).toBe(1);
    expect(insertionIndex(middles, 124)).toBe(2);
  });

  it('drops at the end below the last middle, and at 0 in an empty list', () => {
    expect(insertionIndex(middles, 126)).toBe(3);
    expect(insertionIndex([], 10)).toBe(0);
  });
});

describe('dropTarget', () => {
  it('counts the dragged row out when it moves down', () => {
    expect(dropTarget(0, 3)).toBe(2); // dropped at the end of 3 rows: last place
    expect(dropTarget(1, 2)).toBe(1); // dropped just below itself: no move
    expect(dropTarget(3, 0)).toBe(0);
    expect(dropTarget(2, 2)).toBe(2);
  });
});

describe('moved', () => {
  it('moves one item and shifts the ones between', () => {
    expect(moved(['a', 'b', 'c', 'd'], 0, 2)).toEqual(['b', 'c', 'a', 'd']);
    expect(moved(['a', 'b', 'c', 'd'], 3, 1)).toEqual(['a', 'd', 'b', 'c']);
    expect(moved(['a', 'b'], 1, 1)).toEqual(['a', 'b']);
  });

  it('keeps the list intact for an index out of range', () => {
    expect(moved(['a', 'b'], 5, 0)).toEqual(['a', 'b']);
    expect(moved(['a', 'b', 'c'], 0, 99)).toEqual(['b', 'c', 'a']);
  });

  it('does not change its input', () => {
    const items = ['a', 'b', 'c'];
    moved(items, 0, 2);
    expect(items).toEqual(['a', 'b', 'c']);
  });
});

describe('keyTarget', () => {
  it('moves by one with the arrows and to either end with Home and End', () => {
    expect(keyTarget('ArrowUp', 2, 5)).toBe(1);
    expect(keyTarget('ArrowDown', 2, 5)).toBe(3);
    expect(keyTarget('Home', 2, 5)).toBe(0);
    expect(keyTarget('End', 2, 5)).toBe(4);
  });

  it('moves nothing past the ends or for other keys', () => {
    expect(keyTarget('ArrowUp', 0, 5)).toBeNull();
    expect(keyTarget('ArrowDown', 4, 5)).toBeNull();
    expect(keyTarget('Home', 0, 5)).toBeNull();
    expect(keyTarget('Enter', 2, 5)).toBeNull();
  });
});
