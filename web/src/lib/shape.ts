/** Shaping API data for pages: album discs, totals, the slice of a long list that becomes the queue. */
import type { P2PTrack, Track } from '../api/client';

export interface Disc {
  number: number | null;
  tracks: Track[];
}

/** An album's tracks grouped by disc, in the order the server sent them (disc, then track number). */
export function discs(tracks: readonly Track[]): Disc[] {
  const groups: Disc[] = [];
  for (const track of tracks) {
    const number = track.disc_number ?? null;
    const last = groups.at(-1);
    if (last && last.number === number) last.tracks.push(track);
    else groups.push({ number, tracks: [track] });
  }
  return groups;
}

export function totalDuration(tracks: readonly Track[]): number {
  return tracks.reduce((sum, track) => sum + (Number.isFinite(track.duration_secs) ? track.duration_secs : 0), 0);
}

/** Most tracks handed to the queue when playing from a long list (the queue is not the whole library). */
export const QUEUE_WINDOW = 500;

/** The part of ``items`` around ``index`` that becomes the queue, and where ``index`` lands in it. */
export function windowAround<T>(items: readonly T[], index: number, size = QUEUE_WINDOW): { items: T[]; start: number } {
  const before = Math.min(index, Math.floor(size / 10));
  const from = Math.max(0, index - before);
  return { items: items.slice(from, from + size), start: index - from };
}

export type NetworkState = 'library' | 'peer';

/** A search hit across peers as the page shows it: in our library (play it) or only on peers (import first). */
export function networkState(hit: P2PTrack): NetworkState {
  return hit.track_id ? 'library' : 'peer';
}

/** "on 1 peer", "on 3 peers" (or "in your library"). */
export function sourcesLabel(hit: P2PTrack): string {
  if (hit.track_id) return 'in your library';
  const count = hit.sources.length;
  return `on ${count} peer${count === 1 ? '' : 's'}`;
}
