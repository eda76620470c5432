/**
 * The play queue kept on the server (``/api/play-queue``), so that another device can resume it: what to save of
 * the player's queue, and what a saved one offers to resume.
 */
import type { Track } from '../../api/client';

/** Most entries the server keeps in a saved queue. */
export const MAX_SAVED = 5000;
/** Entries kept before the current one when a queue is longer than that. */
const HISTORY = 100;

export interface Saved {
  track_ids: string[];
  current_index: number | null;
  position_ms: number;
  client: string;
}

/** What is saved of a queue in play order (``ids``) whose entry ``index`` plays at ``position`` seconds. */
export function toSaved(ids: readonly string[], index: number, position: number): Saved {
  const from = ids.length > MAX_SAVED ? Math.min(Math.max(index - HISTORY, 0), ids.length - MAX_SAVED) : 0;
  const kept = ids.slice(from, from + MAX_SAVED);
  const current = index >= 0 && kept.length > 0 ? index - from : null;
  const seconds = Number.isFinite(position) && position > 0 ? position : 0;
  return { track_ids: kept, current_index: current, position_ms: current === null ? 0 : Math.round(seconds * 1000), client: 'web' };
}

/** A saved queue the player can pick up where it was left. */
export interface Offer {
  tracks: Track[];
  index: number;
  /** Seconds into the track at ``index``. */
  position: number;
  /** The app that saved it ("web", a Subsonic client's name) and when. */
  by: string | null;
  at: string | null;
}

/** The offer a saved queue makes, or null when it holds nothing to resume. */
export function offerOf(saved: { tracks: Track[]; current_index: number | null; position_ms: number; changed_by: string | null; changed_at: string | null }): Offer | null {
  if (saved.tracks.length === 0) return null;
  const index = Math.min(Math.max(saved.current_index ?? 0, 0), saved.tracks.length - 1);
  return { tracks: saved.tracks, index, position: Math.max(saved.position_ms, 0) / 1000, by: saved.changed_by, at: saved.changed_at };
}
