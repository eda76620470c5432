/**
 * When a track counts as played (for the history and play counts): once half of it, or four minutes, has been
 * heard — time actually played, so seeking ahead does not count — counted once per time it is loaded.
 */

/** Longest step between two position updates that counts as listening (larger steps are seeks). */
const MAX_STEP = 3;
/** Four minutes count as a play even for a long track. */
const ENOUGH = 240;

export class Listened {
  private heard = 0;
  private last: number | null = null;
  private counted = false;

  /** A new track (or the same one again) started. */
  reset(): void {
    this.heard = 0;
    this.last = null;
    this.counted = false;
  }

  /** The position moved to ``position`` (s) while playing; true once, when the track has just become played. */
  update(position: number, duration: number): boolean {
    if (this.counted) return false;
    if (this.last !== null) {
      const step = position - this.last;
      if (step > 0 && step < MAX_STEP) this.heard += step;
    }
    this.last = position;
    if (!(duration > 0) || this.heard < Math.min(duration / 2, ENOUGH)) return false;
    this.counted = true;
    return true;
  }

  /** The listener jumped to ``position``: the jump is not listening. */
  seeked(position: number): void {
    this.last = position;
  }
}
