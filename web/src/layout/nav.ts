/** The app's sections, as the sidebar (wide screens) and the tab bar (phones) list them. */
import type { IconName } from '../components/Icon.svelte';

export interface Section {
  href: string;
  label: string;
  icon: IconName;
  /** Other locations that belong to this section (an album page is under Albums). */
  prefix: string;
  admin?: boolean;
}

export const SECTIONS: Section[] = [
  { href: '#/tracks', label: 'Tracks', icon: 'tracks', prefix: '/tracks' },
  { href: '#/albums', label: 'Albums', icon: 'album', prefix: '/albums' },
  { href: '#/artists', label: 'Artists', icon: 'artist', prefix: '/artists' },
  { href: '#/search', label: 'Search', icon: 'search', prefix: '/search' },
  { href: '#/upload', label: 'Upload', icon: 'upload', prefix: '/upload' },
  { href: '#/admin', label: 'Admin', icon: 'shield', prefix: '/admin', admin: true },
];

/** The sections a user sees: administrators also get the admin section. */
export function sectionsFor(isAdmin: boolean): Section[] {
  return SECTIONS.filter((section) => !section.admin || isAdmin);
}

/** Whether ``location`` (the router's path) is in ``section``; ``/`` is the tracks page. */
export function isActive(section: Section, location: string): boolean {
  const path = location === '/' ? '/tracks' : location;
  return path === section.prefix || path.startsWith(`${section.prefix}/`);
}
