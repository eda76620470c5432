import { describe, expect, it } from 'vitest';
import { isActive, SECTIONS, sectionsFor } from './nav';

describe('navigation', () => {
  it('shows the admin section to administrators only', () => {
    expect(sectionsFor(false).map((s) => s.label)).not.toContain('Admin');
    expect(sectionsFor(true).map((s) => s.label)).toContain('Admin');
  });

  it('marks the section of the current location, the home page being Tracks', () => {
    const [tracks, albums] = SECTIONS;
    expect(isActive(tracks!, '/')).toBe(true);
    expect(isActive(albums!, '/albums/5f0c')).toBe(true);
    expect(isActive(albums!, '/albumsx')).toBe(false);
    expect(isActive(tracks!, '/albums')).toBe(false);
  });
});
