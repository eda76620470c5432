import { describe, expect, it } from 'vitest';
import { actionFor } from './shortcuts';

function press(key: string, target: EventTarget | null = document.body, modifiers: Partial<KeyboardEvent> = {}) {
  return actionFor({ key, ctrlKey: false, metaKey: false, altKey: false, target, ...modifiers });
}

describe('keyboard shortcuts', () => {
  it('maps the player keys', () => {
    expect(press(' ')).toBe('toggle');
    expect(press('K')).toBe('toggle');
    expect(press('n')).toBe('next');
    expect(press('p')).toBe('previous');
    expect(press('ArrowRight')).toBe('forward');
    expect(press('j')).toBe('back');
    expect(press('m')).toBe('mute');
    expect(press('/')).toBe('search');
    expect(press('?')).toBe('help');
    expect(press('x')).toBeNull();
  });

  it('never fires while typing, with a modifier, or for Space on a button', () => {
    const input = document.createElement('input');
    const button = document.createElement('button');
    const range = Object.assign(document.createElement('input'), { type: 'range' });
    document.body.append(input, button, range);
    expect(press('n', input)).toBeNull();
    expect(press(' ', input)).toBeNull();
    expect(press('ArrowRight', range)).toBeNull();
    expect(press(' ', button)).toBeNull();
    expect(press('n', button)).toBe('next');
    expect(press('ArrowLeft', button)).toBeNull();
    expect(press('n', document.body, { ctrlKey: true })).toBeNull();
  });
});
