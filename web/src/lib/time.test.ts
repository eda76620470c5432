import { describe, expect, it } from 'vitest';
import { ago } from './time';

describe('ago', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  it.each([
    ['2026-12-03T11:59:30Z', 'just now'],
    ['2026-12-03T11:56:00Z', '4 min ago'],
    ['2026-12-03T09:00:00Z', '3 h ago'],
    ['2026-12-02T11:00:00Z', '1 day ago'],
    ['2026-11-25T12:00:00Z', '8 days ago'],
    ['2026-10-01T12:00:00Z', 'Oct 1, 2026'],
  ])('%s reads %s', (iso, expected) => {
    expect(ago(iso, now)).toBe(expected);
  });

  it('says never for nothing', () => {
    expect(ago(null, now)).toBe('never');
    expect(ago('not a date', now)).toBe('never');
  });
});
