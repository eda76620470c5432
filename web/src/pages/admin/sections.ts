/** The admin pages, in the order of the admin navigation. */
import type { IconName } from '../../components/Icon.svelte';

export interface AdminSection {
  /** The route inside the admin section ("/" is the overview). */
  path: string;
  label: string;
  icon: IconName;
}

export const ADMIN_SECTIONS: AdminSection[] = [
  { path: '/', label: 'Overview', icon: 'node' },
  { path: '/peers', label: 'Peers', icon: 'list' },
  { path: '/graph', label: 'Graph', icon: 'graph' },
  { path: '/sync', label: 'Sync', icon: 'refresh' },
  { path: '/tracks', label: 'Tracks', icon: 'cloud' },
  { path: '/blocks', label: 'Blocks', icon: 'ban' },
  { path: '/logs', label: 'Logs', icon: 'logs' },
  { path: '/users', label: 'Users', icon: 'users' },
];

/** ``#/admin/peers`` for ``/peers``; ``#/admin`` for the overview. */
export function adminHref(path: string): string {
  return path === '/' ? '#/admin' : `#/admin${path}`;
}

/** The section a router location (``/admin/peers/…``) belongs to. */
export function currentSection(location: string): AdminSection | undefined {
  const rest = location.replace(/^\/admin/, '') || '/';
  return ADMIN_SECTIONS.find((section) => section.path !== '/' && (rest === section.path || rest.startsWith(`${section.path}/`))) ??
    (rest === '/' ? ADMIN_SECTIONS[0] : undefined);
}
