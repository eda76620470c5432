/** The app's sections, as the sidebar (wide screens), the tab bar and the "More" page (phones) list them. */
import type { IconName } from '../components/Icon.svelte';

/** The sidebar's groups, in order (a line between them). */
export type Group = 'library' | 'yours' | 'admin';

export interface Section {
  href: string;
  label: string;
  icon: IconName;
  /** Other locations that belong to this section (an album page is under Albums). */
  prefix: string;
  /** In the sidebar under this group; none: reached another way there (the account box). */
  group?: Group;
  /** In the phones' tab bar; the others are on the "More" page. */
  tab?: boolean;
  admin?: boolean;
}

export const SECTIONS: Section[] = [
  { href: '#/tracks', label: 'Tracks', icon: 'tracks', prefix: '/tracks', group: 'library', tab: true },
  { href: '#/albums', label: 'Albums', icon: 'album', prefix: '/albums', group: 'library', tab: true },
  { href: '#/artists', label: 'Artists', icon: 'artist', prefix: '/artists', group: 'library' },
  { href: '#/search', label: 'Search', icon: 'search', prefix: '/search', group: 'library', tab: true },
  { href: '#/upload', label: 'Upload', icon: 'upload', prefix: '/upload', group: 'library' },
  { href: '#/playlists', label: 'Playlists', icon: 'playlist', prefix: '/playlists', group: 'yours', tab: true },
  { href: '#/favourites', label: 'Favourites', icon: 'heart', prefix: '/favourites', group: 'yours' },
  { href: '#/history', label: 'History', icon: 'history', prefix: '/history', group: 'yours' },
  { href: '#/account', label: 'Account', icon: 'account', prefix: '/account' },
  { href: '#/admin', label: 'Admin', icon: 'shield', prefix: '/admin', group: 'admin', admin: true },
];

/** The "More" tab: every section that has no tab of its own. */
export const MORE: Section = { href: '#/more', label: 'More', icon: 'more', prefix: '/more' };

/** The sections a user sees: administrators also get the admin section. */
export function sectionsFor(isAdmin: boolean): Section[] {
  return SECTIONS.filter((section) => !section.admin || isAdmin);
}

/** The sidebar's sections, with where a new group starts. */
export function sidebarFor(isAdmin: boolean): { section: Section; first: boolean }[] {
  const shown = sectionsFor(isAdmin).filter((section) => section.group);
  return shown.map((section, index) => ({ section, first: index > 0 && shown[index - 1]!.group !== section.group }));
}

/** The phones' tab bar: the sections with a tab, then "More". */
export function tabsFor(isAdmin: boolean): Section[] {
  return [...sectionsFor(isAdmin).filter((section) => section.tab), MORE];
}

/** What the "More" page lists: the sections without a tab. */
export function moreFor(isAdmin: boolean): Section[] {
  return sectionsFor(isAdmin).filter((section) => !section.tab);
}

/** Whether ``location`` (the router's path) is in ``section``; ``/`` is the tracks page. */
export function isActive(section: Section, location: string): boolean {
  const path = location === '/' ? '/tracks' : location;
  return path === section.prefix || path.startsWith(`${section.prefix}/`);
}

/** On phones, "More" is the current tab for every section that has no tab. */
export function isActiveTab(section: Section, location: string, isAdmin: boolean): boolean {
  if (section !== MORE) return isActive(section, location);
  return isActive(MORE, location) || moreFor(isAdmin).some((other) => isActive(other, location));
}
