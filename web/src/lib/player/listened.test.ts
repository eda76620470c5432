import { describe, expect, it } from 'vitest';
import { Listened } from './listened';

function play(listened: Listened, from: number, to: number, duration: number, step = 0.25): boolean[] {
  const answers: boolean[] = [];
  for (let position = from; position <= to + 1e-9; position += step) answers.push(listened.update(position, duration));
  return answers;
}

describe('Listened', () => {
  it('counts a play once, when half of a short track was heard', () => {
    const listened = new Listened();
    const answers = play(listened, 0, 6, 6);
    expect(answers.filter(Boolean)).toHaveLength(1);
    expect(answers.indexOf(true)).toBe(12); // at 3.0 s of a 6 s track
  });

  it('counts four minutes of a long track', () => {
    const listened = new Listened();
    expect(play(listened, 0, 239.5, 3600, 0.5).some(Boolean)).toBe(false);
    expect(listened.update(240, 3600)).toBe(true);
  });

  it('does not count seeking ahead as listening', () => {
    const listened = new Listened();
    listened.update(0, 100);
    listened.update(1, 100);
    expect(listened.update(60, 100)).toBe(false); // a jump of 59 s
    listened.seeked(90);
    expect(play(listened, 90, 100, 100).some(Boolean)).toBe(false); // 10 s heard of the 50 needed
  });

  it('counts again after a reset (the track played again), never for an unknown duration', () => {
    const listened = new Listened();
    expect(play(listened, 0, 4, 6).some(Boolean)).toBe(true);
    expect(play(listened, 4, 6, 6).some(Boolean)).toBe(false);
    listened.reset();
    expect(play(listened, 0, 4, 6).some(Boolean)).toBe(true);
    listened.reset();
    expect(play(listened, 0, 50, Number.NaN).some(Boolean)).toBe(false);
  });
});
