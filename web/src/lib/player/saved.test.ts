import { describe, expect, it } from 'vitest';
import type { Track } from '../../api/client';
import { MAX_SAVED, offerOf, toSaved } from './saved';

describe('toSaved', () => {
  it('keeps the queue in play order with the current entry and the position in ms', () => {
    expect(toSaved(['a', 'b', 'c'], 1, 42.4)).toEqual({ track_ids: ['a', 'b', 'c'], current_index: 1, position_ms: 42400, client: 'web' });
  });

  it('saves an empty queue as nothing playing', () => {
    expect(toSaved([], -1, 10)).toEqual({ track_ids: [], current_index: null, position_ms: 0, client: 'web' });
  });

  it('keeps at most the server limit, around the current entry', () => {
    const ids = Array.from({ length: MAX_SAVED + 900 }, (_, i) => `t${i}`);
    const saved = toSaved(ids, 700, 0);
    expect(saved.track_ids).toHaveLength(MAX_SAVED);
    expect(saved.track_ids[saved.current_index!]).toBe('t700');
    expect(saved.current_index).toBe(100);
    const near = toSaved(ids, MAX_SAVED + 899, Number.NaN);
    expect(near.track_ids.at(-1)).toBe(`t${MAX_SAVED + 899}`);
    expect(near.track_ids[near.current_index!]).toBe(`t${MAX_SAVED + 899}`);
    expect(near.position_ms).toBe(0);
  });
});

describe('offerOf', () => {
  const tracks = [{ id: 'a' }, { id: 'b' }] as unknown as Track[];

  it('offers the saved track and position', () => {
    expect(offerOf({ tracks, current_index: 1, position_ms: 61500, changed_by: 'DSub', changed_at: '2026-12-03T06:00:00Z' })).toEqual({
      tracks,
      index: 1,
      position: 61.5,
      by: 'DSub',
      at: '2026-12-03T06:00:00Z',
    });
  });

  it('offers nothing for an empty queue and the first track when none was current', () => {
    expect(offerOf({ tracks: [], current_index: null, position_ms: 0, changed_by: null, changed_at: null })).toBeNull();
    expect(offerOf({ tracks, current_index: null, position_ms: 0, changed_by: 'web', changed_at: null })?.index).toBe(0);
  });
});
