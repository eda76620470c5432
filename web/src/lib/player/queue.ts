/**
 * The play queue: what plays now, what comes next, repeat and shuffle. Plain data and logic, no audio and no
 * Svelte, so every rule is unit-tested (queue.test.ts).
 *
 * ``entries`` is the play order; ``insertion`` remembers the order tracks were added in, which shuffle-off
 * restores. An entry has a key of its own, so one track may be queued twice.
 */

export type Repeat = 'off' | 'all' | 'one';

export interface Entry<T> {
  key: number;
  item: T;
}

/** Going back this far into a track restarts it rather than going to the previous one (seconds). */
export const RESTART_THRESHOLD = 3;

export class Queue<T> {
  entries: Entry<T>[] = [];
  /** Index of the current entry in ``entries``; -1 when nothing is queued. */
  index = -1;
  repeat: Repeat = 'off';
  shuffled = false;
  private insertion: Entry<T>[] = [];
  private nextKey = 1;

  constructor(private readonly random: () => number = Math.random) {}

  get current(): T | undefined {
    return this.entries[this.index]?.item;
  }

  get currentKey(): number | undefined {
    return this.entries[this.index]?.key;
  }

  /** Upcoming entries after the current one, in play order. */
  get upcoming(): Entry<T>[] {
    return this.entries.slice(this.index + 1);
  }

  get hasNext(): boolean {
    return this.index + 1 < this.entries.length || (this.repeat === 'all' && this.entries.length > 0);
  }

  private wrap(items: readonly T[]): Entry<T>[] {
    return items.map((item) => ({ key: this.nextKey++, item }));
  }

  /** Replace the queue with ``items`` and make ``start`` current (the rest shuffled if shuffle is on). */
  replace(items: readonly T[], start = 0): T | undefined {
    this.insertion = this.wrap(items);
    if (this.insertion.length === 0) return this.clear();
    const first = Math.min(Math.max(start, 0), this.insertion.length - 1);
    if (this.shuffled) {
      const chosen = this.insertion[first]!;
      this.entries = [chosen, ...this.shuffle(this.insertion.filter((entry) => entry !== chosen))];
      this.index = 0;
    } else {
      this.entries = [...this.insertion];
      this.index = first;
    }
    return this.current;
  }

  /** Add to the end of the queue (it starts playing if the queue was empty). */
  append(items: readonly T[]): void {
    const added = this.wrap(items);
    this.insertion.push(...added);
    this.entries.push(...added);
    if (this.index < 0 && this.entries.length > 0) this.index = 0;
  }

  /** Insert right after the current entry. */
  playNext(items: readonly T[]): void {
    const added = this.wrap(items);
    const current = this.entries[this.index];
    const at = current ? this.insertion.indexOf(current) + 1 : this.insertion.length;
    this.insertion.splice(at, 0, ...added);
    this.entries.splice(this.index + 1, 0, ...added);
    if (this.index < 0 && this.entries.length > 0) this.index = 0;
  }

  /**
   * The entry after the current one. ``ended`` is true when the current track finished by itself: only then does
   * repeat-one replay it (a press of "next" always moves on). Undefined at the end of the queue without repeat.
   */
  next(ended = false): T | undefined {
    if (this.entries.length === 0) return undefined;
    if (ended && this.repeat === 'one') return this.current;
    if (this.index + 1 < this.entries.length) {
      this.index += 1;
    } else if (this.repeat === 'all') {
      if (this.shuffled) this.entries = this.shuffle(this.entries);
      this.index = 0;
    } else {
      return undefined;
    }
    return this.current;
  }

  /** "Previous": restart the track when it has played a few seconds, else go back one (or wrap with repeat). */
  previous(position: number): { item: T | undefined; restart: boolean } {
    if (this.entries.length === 0) return { item: undefined, restart: false };
    if (position > RESTART_THRESHOLD || (this.index === 0 && this.repeat !== 'all')) {
      return { item: this.current, restart: true };
    }
    this.index = this.index > 0 ? this.index - 1 : this.entries.length - 1;
    return { item: this.current, restart: false };
  }

  /** Make the entry with ``key`` current. */
  jump(key: number): T | undefined {
    const at = this.entries.findIndex((entry) => entry.key === key);
    if (at >= 0) this.index = at;
    return at >= 0 ? this.current : undefined;
  }

  /** Remove an entry; removing the current one makes the following entry current (returned as ``now``). */
  remove(key: number): { removedCurrent: boolean; now: T | undefined } {
    const at = this.entries.findIndex((entry) => entry.key === key);
    if (at < 0) return { removedCurrent: false, now: this.current };
    const [removed] = this.entries.splice(at, 1);
    this.insertion = this.insertion.filter((entry) => entry !== removed);
    const removedCurrent = at === this.index;
    if (at < this.index) this.index -= 1;
    if (this.index >= this.entries.length) this.index = this.entries.length - 1;
    return { removedCurrent, now: this.current };
  }

  /** Move an upcoming or past entry to another place in the play order (the current entry stays current). */
  move(key: number, to: number): void {
    const from = this.entries.findIndex((entry) => entry.key === key);
    if (from < 0) return;
    const current = this.entries[this.index];
    const [entry] = this.entries.splice(from, 1);
    this.entries.splice(Math.min(Math.max(to, 0), this.entries.length), 0, entry!);
    this.index = current ? this.entries.indexOf(current) : -1;
  }

  clear(): undefined {
    this.entries = [];
    this.insertion = [];
    this.index = -1;
    return undefined;
  }

  cycleRepeat(): Repeat {
    this.repeat = this.repeat === 'off' ? 'all' : this.repeat === 'all' ? 'one' : 'off';
    return this.repeat;
  }

  /** Shuffle on: the current entry first, the others in random order. Off: the order they were added in. */
  setShuffle(on: boolean): void {
    if (on === this.shuffled) return;
    this.shuffled = on;
    const current = this.entries[this.index];
    if (on) {
      const others = this.shuffle(this.entries.filter((entry) => entry !== current));
      this.entries = current ? [current, ...others] : others;
      this.index = current ? 0 : -1;
    } else {
      this.entries = [...this.insertion];
      this.index = current ? this.entries.indexOf(current) : -1;
    }
  }

  /** Fisher–Yates with the injected random source. */
  private shuffle(entries: readonly Entry<T>[]): Entry<T>[] {
    const out = [...entries];
    for (let i = out.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
