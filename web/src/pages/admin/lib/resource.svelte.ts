/** Something a page loads, with loading and error states and a reload that can keep the old value shown. */
import { describeError } from '../../../api/client';

export interface Resource<T> {
  readonly value: T | null;
  readonly error: string | null;
  readonly loading: boolean;
  /** Load again; ``quiet`` keeps the current value on screen (no loading state) until the new one arrives. */
  reload(quiet?: boolean): Promise<void>;
  /** Replace the value (after an action whose answer is the new value). */
  set(value: T): void;
}

export function resource<T>(load: () => Promise<T>): Resource<T> {
  let value = $state.raw<T | null>(null);
  let error = $state<string | null>(null);
  let loading = $state(true);
  let generation = 0;

  async function reload(quiet = false): Promise<void> {
    const mine = ++generation;
    if (!quiet) loading = true;
    try {
      const loaded = await load();
      if (mine === generation) {
        value = loaded;
        error = null;
      }
    } catch (failure) {
      if (mine === generation) error = describeError(failure);
    } finally {
      if (mine === generation) loading = false;
    }
  }

  void reload();
  return {
    get value() {
      return value;
    },
    get error() {
      return error;
    },
    get loading() {
      return loading;
    },
    reload,
    set(next: T) {
      value = next;
    },
  };
}
