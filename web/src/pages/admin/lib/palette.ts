/**
 * The network graph's colours, one set per theme.
 *
 * SoundTime's panel is the baseline (self #22c55e, relay #3b82f6, peer #a855f7, offline #4b5563 at half opacity).
 * Its colours are kept on the dark theme, where each has at least 3:1 contrast against the graph's background
 * (WCAG 1.4.11, non-text contrast). On the light theme they fall short (#22c55e is 2.3:1 on white), so the same
 * hues are taken one step darker. An offline node keeps SoundTime's half-opaque grey fill, which alone is nearly
 * invisible on a dark background: it gets a solid grey ring (dashed, so the state never rests on colour alone).
 */

export type Theme = 'light' | 'dark';

export interface Palette {
  /** The graph's background (the app's surface colour). */
  background: string;
  self: string;
  relay: string;
  peer: string;
  offlineFill: string;
  offlineRing: string;
  blocked: string;
  /** Links: direct (this node to an online peer), relay, peer (learned by exchange). */
  direct: string;
  relayLink: string;
  peerLink: string;
  label: string;
  /** Drawn under labels so they stay readable over links. */
  halo: string;
  /** The ring of the selected node. */
  selection: string;
}

export const PALETTES: Record<Theme, Palette> = {
  light: {
    background: '#ffffff',
    self: '#16a34a',
    relay: '#2563eb',
    peer: '#9333ea',
    offlineFill: '#4b5563',
    offlineRing: '#6b7280',
    blocked: '#b42334',
    direct: '#16a34a',
    relayLink: '#2563eb',
    peerLink: '#9333ea',
    label: '#16161d',
    halo: '#ffffff',
    selection: '#5b4bdb',
  },
  dark: {
    background: '#18181f',
    self: '#22c55e',
    relay: '#3b82f6',
    peer: '#a855f7',
    offlineFill: '#4b5563',
    offlineRing: '#9ca3af',
    blocked: '#ff7d8a',
    direct: '#22c55e',
    relayLink: '#3b82f6',
    peerLink: '#a855f7',
    label: '#ececf2',
    halo: '#18181f',
    selection: '#978cff',
  },
};

function channel(value: number): number {
  const c = value / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG relative luminance of ``#rrggbb``. */
export function luminance(hex: string): number {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!match) throw new Error(`not a #rrggbb colour: ${hex}`);
  const [r, g, b] = match.slice(1).map((part) => channel(parseInt(part, 16))) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [dark, light] = [luminance(a), luminance(b)].sort((x, y) => x - y) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

/** The theme the system asks for (light when it cannot tell). */
export function systemTheme(): Theme {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
