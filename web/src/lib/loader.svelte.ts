/** One thing a page shows (an album, an artist), loaded again when its id changes; its error for a retry. */
import { describeError } from '../api/client';

export interface Loaded<T> {
  readonly value: T | null;
  readonly error: string | null;
  reload(): void;
}

export function loader<T>(id: () => string, fetch: (id: string) => Promise<T>): Loaded<T> {
  let value = $state.raw<T | null>(null);
  let error = $state<string | null>(null);
  let generation = 0;

  async function load(key: string): Promise<void> {
    const mine = ++generation;
    value = null;
    error = null;
    try {
      const loaded = await fetch(key);
      if (mine === generation) value = loaded;
    } catch (failure) {
      if (mine === generation) error = describeError(failure);
    }
  }

  $effect(() => void load(id()));

  return {
    get value() {
      return value;
    },
    get error() {
      return error;
    },
    reload: () => void load(id()),
  };
}
