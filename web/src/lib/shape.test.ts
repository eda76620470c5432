import { describe, expect, it } from 'vitest';
import type { P2PTrack, Track } from '../api/client';
import { discs, networkState, sourcesLabel, totalDuration, windowAround } from './shape';

function track(id: string, disc: number | null, seconds = 100): Track {
  return { id, title: id, disc_number: disc, duration_secs: seconds } as Track;
}

function hit(trackId: string | null, sources: string[]): P2PTrack {
  return { hash: 'a'.repeat(64), track_id: trackId, sources } as P2PTrack;
}

describe('album shaping', () => {
  it('groups tracks by disc in server order', () => {
    const grouped = discs([track('a', 1), track('b', 1), track('c', 2)]);
    expect(grouped.map((d) => [d.number, d.tracks.map((t) => t.id)])).toEqual([
      [1, ['a', 'b']],
      [2, ['c']],
    ]);
    expect(discs([track('a', null), track('b', null)])).toHaveLength(1);
    expect(discs([])).toEqual([]);
  });

  it('adds up durations, skipping missing ones', () => {
    expect(totalDuration([track('a', 1, 61.5), track('b', 1, Number.NaN), track('c', 1, 38.5)])).toBe(100);
  });
});

describe('queue window', () => {
  const items = Array.from({ length: 2000 }, (_, i) => i);

  it('takes the chosen item and what follows it, with a little history', () => {
    const { items: queue, start } = windowAround(items, 1000, 500);
    expect(queue).toHaveLength(500);
    expect(queue[start]).toBe(1000);
    expect(start).toBe(50);
  });

  it('works at both ends of the list', () => {
    expect(windowAround(items, 0, 500)).toMatchObject({ start: 0 });
    const tail = windowAround(items, 1999, 500);
    expect(tail.items[tail.start]).toBe(1999);
    expect(tail.items.at(-1)).toBe(1999);
  });
});

describe('network results', () => {
  it('tells a hit in the library from one only peers have', () => {
    expect(networkState(hit('t1', ['n1']))).toBe('library');
    expect(networkState(hit(null, ['n1']))).toBe('peer');
    expect(sourcesLabel(hit(null, ['n1']))).toBe('on 1 peer');
    expect(sourcesLabel(hit(null, ['n1', 'n2']))).toBe('on 2 peers');
    expect(sourcesLabel(hit('t1', []))).toBe('in your library');
  });
});
