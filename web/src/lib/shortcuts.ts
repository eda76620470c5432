/** Keyboard shortcuts of the player and the app. Typing in a field never triggers one. */

export type Action = 'toggle' | 'next' | 'previous' | 'forward' | 'back' | 'mute' | 'search' | 'help';

export const SHORTCUTS: { keys: string[]; action: Action; what: string }[] = [
  { keys: ['Space', 'K'], action: 'toggle', what: 'Play or pause' },
  { keys: ['N'], action: 'next', what: 'Next track' },
  { keys: ['P'], action: 'previous', what: 'Previous track (or back to the start)' },
  { keys: ['L', '→'], action: 'forward', what: 'Forward 10 seconds' },
  { keys: ['J', '←'], action: 'back', what: 'Back 10 seconds' },
  { keys: ['M'], action: 'mute', what: 'Mute or unmute' },
  { keys: ['/'], action: 'search', what: 'Search' },
  { keys: ['?'], action: 'help', what: 'Show these shortcuts' },
];

const LETTERS: Record<string, Action> = { k: 'toggle', n: 'next', p: 'previous', l: 'forward', j: 'back', m: 'mute' };

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  target: EventTarget | null;
}

function editable(target: EventTarget | null): boolean {
  if (!(target instanceof Element)) return false;
  return target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]') !== null;
}

function control(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest('button, a, [role="button"], summary') !== null;
}

/** The action a key press asks for, or null (modifier held, typing in a field, or an unbound key). */
export function actionFor(event: KeyLike): Action | null {
  if (event.ctrlKey || event.metaKey || event.altKey || editable(event.target)) return null;
  const key = event.key;
  if (key === ' ') return control(event.target) ? null : 'toggle'; // Space on a button presses the button
  if (key === 'ArrowRight' || key === 'ArrowLeft') {
    // only with nothing focused: arrows scroll lists and move sliders otherwise
    const free = !(event.target instanceof Element) || event.target === document.body;
    return free ? (key === 'ArrowRight' ? 'forward' : 'back') : null;
  }
  if (key === '/') return 'search';
  if (key === '?') return 'help';
  return LETTERS[key.toLowerCase()] ?? null;
}
