import { describe, expect, it } from 'vitest';
import { isActive, isActiveTab, MORE, moreFor, SECTIONS, sectionsFor, sidebarFor, tabsFor } from './nav';

describe('navigation', () => {
  it('shows the admin section to administrators only', () => {
    expect(sectionsFor(false).map((s) => s.label)).not.toContain('Admin');
    expect(sectionsFor(true).map((s) => s.label)).toContain('Admin');
    expect(moreFor(false).map((s) => s.label)).not.toContain('Admin');
  });

  it('marks the section of the current location, the home page being Tracks', () => {
    const [tracks, albums] = SECTIONS;
    expect(isActive(tracks!, '/')).toBe(true);
    expect(isActive(albums!, '/albums/5f0c')).toBe(true);
    expect(isActive(albums!, '/albumsx')).toBe(false);
    expect(isActive(tracks!, '/albums')).toBe(false);
  });

  it('groups the sidebar (library, yours, admin) and leaves the account to the account box', () => {
    const rows = sidebarFor(true);
    expect(rows.map((row) => row.section.label)).not.toContain('Account');
    expect(rows.filter((row) => row.first).map((row) => row.section.label)).toEqual(['Playlists', 'Admin']);
  });

  it('gives phones a few tabs and "More" for every other section, marked current on those', () => {
    const tabs = tabsFor(true);
    expect(tabs.at(-1)).toBe(MORE);
    expect(tabs.length).toBeLessThanOrEqual(6);
    const all = new Set([...tabs, ...moreFor(true)].map((s) => s.label));
    for (const section of sectionsFor(true)) expect(all).toContain(section.label);
    expect(isActiveTab(MORE, '/history', false)).toBe(true);
    expect(isActiveTab(MORE, '/account', false)).toBe(true);
    expect(isActiveTab(MORE, '/playlists/1', false)).toBe(false);
  });
});
