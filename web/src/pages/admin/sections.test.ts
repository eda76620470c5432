import { describe, expect, it } from 'vitest';
import { adminHref, currentSection } from './sections';

describe('admin sections', () => {
  it('links the overview at the section root', () => {
    expect(adminHref('/')).toBe('#/admin');
    expect(adminHref('/graph')).toBe('#/admin/graph');
  });

  it('finds the section of a location', () => {
    expect(currentSection('/admin')?.label).toBe('Overview');
    expect(currentSection('/admin/')?.label).toBe('Overview');
    expect(currentSection('/admin/logs')?.label).toBe('Logs');
    expect(currentSection('/admin/users/x')?.label).toBe('Users');
    expect(currentSection('/admin/nothing')).toBeUndefined();
  });
});
