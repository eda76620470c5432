import { describe, expect, it } from 'vitest';
import { Queue } from './queue';

/** A repeatable random source (a small LCG), so shuffles are the same on every run. */
function seeded(seed = 42): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const items = (queue: Queue<string>) => queue.entries.map((entry) => entry.item);

describe('Queue', () => {
  it('plays from the chosen track and walks forward to the end', () => {
    const queue = new Queue<string>();
    expect(queue.replace(['a', 'b', 'c'], 1)).toBe('b');
    expect(queue.next()).toBe('c');
    expect(queue.next()).toBeUndefined();
    expect(queue.current).toBe('c');
    expect(queue.hasNext).toBe(false);
  });

  it('clamps a start index outside the list and empties on an empty replace', () => {
    const queue = new Queue<string>();
    expect(queue.replace(['a', 'b'], 9)).toBe('b');
    expect(queue.replace([], 0)).toBeUndefined();
    expect(queue.index).toBe(-1);
    expect(queue.next()).toBeUndefined();
  });

  it('repeat all wraps around in both directions; repeat one replays only when a track ends', () => {
    const queue = new Queue<string>();
    queue.replace(['a', 'b']);
    queue.cycleRepeat();
    expect(queue.repeat).toBe('all');
    queue.next();
    expect(queue.next()).toBe('a');
    expect(queue.previous(0)).toEqual({ item: 'b', restart: false });

    expect(queue.cycleRepeat()).toBe('one');
    expect(queue.next(true)).toBe('b');
    expect(queue.next(false)).toBeUndefined(); // a press of next moves on: at the end, without repeat-all
    expect(queue.cycleRepeat()).toBe('off');
  });

  it('previous restarts a track that has played a while, and at the start of the queue', () => {
    const queue = new Queue<string>();
    queue.replace(['a', 'b', 'c'], 1);
    expect(queue.previous(10)).toEqual({ item: 'b', restart: true });
    expect(queue.previous(1)).toEqual({ item: 'a', restart: false });
    expect(queue.previous(1)).toEqual({ item: 'a', restart: true });
  });

  it('appends and inserts next, keeping one key per entry so a track can be queued twice', () => {
    const queue = new Queue<string>();
    queue.append(['a']);
    expect(queue.current).toBe('a');
    queue.append(['c']);
    queue.playNext(['b', 'a']);
    expect(items(queue)).toEqual(['a', 'b', 'a', 'c']);
    expect(new Set(queue.entries.map((entry) => entry.key)).size).toBe(4);
    expect(queue.upcoming.map((entry) => entry.item)).toEqual(['b', 'a', 'c']);
  });

  it('removing the current entry makes the next one current; removing before it keeps it current', () => {
    const queue = new Queue<string>();
    queue.replace(['a', 'b', 'c', 'd'], 2);
    const [a, , c] = queue.entries;
    expect(queue.remove(a!.key)).toEqual({ removedCurrent: false, now: 'c' });
    expect(queue.remove(c!.key)).toEqual({ removedCurrent: true, now: 'd' });
    expect(items(queue)).toEqual(['b', 'd']);
    const last = queue.entries[1]!;
    expect(queue.remove(last.key)).toEqual({ removedCurrent: true, now: 'b' });
    expect(queue.remove(999)).toEqual({ removedCurrent: false, now: 'b' });
  });

  it('jumps to an entry by key and moves entries without losing the current one', () => {
    const queue = new Queue<string>();
    queue.replace(['a', 'b', 'c', 'd']);
    const d = queue.entries[3]!;
    queue.move(d.key, 1);
    expect(items(queue)).toEqual(['a', 'd', 'b', 'c']);
    expect(queue.current).toBe('a');
    expect(queue.jump(d.key)).toBe('d');
    expect(queue.index).toBe(1);
    expect(queue.jump(12345)).toBeUndefined();
  });

  it('shuffle keeps the current track first and every track once; off restores the added order', () => {
    const queue = new Queue<string>(seeded());
    const tracks = Array.from({ length: 20 }, (_, i) => `t${i}`);
    queue.replace(tracks, 5);
    queue.setShuffle(true);
    expect(queue.current).toBe('t5');
    expect(queue.index).toBe(0);
    expect([...items(queue)].sort()).toEqual([...tracks].sort());
    expect(items(queue)).not.toEqual(tracks);

    queue.next();
    const playing = queue.current;
    queue.setShuffle(false);
    expect(items(queue)).toEqual(tracks);
    expect(queue.current).toBe(playing);
  });

  it('a replace while shuffled starts with the chosen track', () => {
    const queue = new Queue<string>(seeded(7));
    queue.setShuffle(true);
    expect(queue.replace(['a', 'b', 'c', 'd'], 2)).toBe('c');
    expect(queue.index).toBe(0);
    expect(queue.entries).toHaveLength(4);
  });

  it('clear forgets everything', () => {
    const queue = new Queue<string>();
    queue.replace(['a', 'b']);
    queue.clear();
    expect(queue.entries).toEqual([]);
    expect(queue.current).toBeUndefined();
    expect(queue.previous(0)).toEqual({ item: undefined, restart: false });
  });
});
