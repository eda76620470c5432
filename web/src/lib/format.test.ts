import { describe, expect, it } from 'vitest';
import { bytes, duration, longDuration, plural } from './format';

describe('format', () => {
  it('durations', () => {
    expect(duration(0)).toBe('0:00');
    expect(duration(187.9)).toBe('3:07');
    expect(duration(3765)).toBe('1:02:45');
    expect(duration(Number.NaN)).toBe('0:00');
    expect(longDuration(18.4)).toBe('18 s');
    expect(longDuration(2520)).toBe('42 min');
    expect(longDuration(3900)).toBe('1 h 5 min');
    expect(longDuration(7200)).toBe('2 h');
  });

  it('sizes and counts', () => {
    expect(bytes(850)).toBe('850 B');
    expect(bytes(4.2 * 1024 * 1024)).toBe('4.2 MB');
    expect(bytes(12 * 1024 * 1024)).toBe('12 MB');
    expect(plural(1, 'track')).toBe('1 track');
    expect(plural(250000, 'track')).toBe('250,000 tracks');
  });
});
