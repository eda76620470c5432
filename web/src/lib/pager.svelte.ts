/**
 * A keyset-paginated list loaded page after page (the API answers ``{items, next_cursor}``). Rows are kept in
 * one growing array (appending a page does not copy the rows before it); ``version`` tells Svelte it grew.
 */
import { onMount } from 'svelte';
import { describeError } from '../api/client';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Fetch<T> = (cursor: string | null, signal: AbortSignal) => Promise<Page<T>>;

/** Rows asked for: a small first page paints soonest, bigger ones then keep ahead of scrolling. */
export function pageSize(cursor: string | null): number {
  return cursor === null ? 50 : 200;
}

export class Pager<T> {
  loading = $state(false);
  error = $state<string | null>(null);
  done = $state(false);
  private version = $state(0);
  private rows: T[] = [];
  private cursor: string | null = null;
  private controller = new AbortController();

  constructor(private readonly fetchPage: Fetch<T>) {}

  /** The rows loaded so far (reading it subscribes to new pages). */
  get items(): readonly T[] {
    void this.version;
    return this.rows;
  }

  get count(): number {
    void this.version;
    return this.rows.length;
  }

  /** Nothing loaded and nothing more to load: the list is empty. */
  get empty(): boolean {
    return this.done && this.count === 0;
  }

  /** Load the next page unless one is loading, the list is complete, or the last attempt failed. */
  async more(): Promise<void> {
    if (this.loading || this.done || this.error) return;
    this.loading = true;
    const { signal } = this.controller;
    try {
      const page = await this.fetchPage(this.cursor, signal);
      if (signal.aborted) return;
      this.rows.push(...page.items);
      this.cursor = page.next_cursor;
      this.done = page.next_cursor === null;
      this.version += 1;
    } catch (error) {
      if (!signal.aborted) this.error = describeError(error);
    } finally {
      if (!signal.aborted) this.loading = false;
    }
  }

  /** Try again after an error. */
  retry(): Promise<void> {
    this.error = null;
    return this.more();
  }

  /** Start again from the first page (the list changed on the server). */
  reset(): Promise<void> {
    this.controller.abort();
    this.controller = new AbortController();
    this.rows = [];
    this.cursor = null;
    this.done = false;
    this.error = null;
    this.loading = false;
    this.version += 1;
    return this.more();
  }

  /** Stop any request in flight (the page using the list went away). */
  dispose(): void {
    this.controller.abort();
  }
}

/** A pager for a page component: its first page loads when the page mounts, requests stop when it goes away. */
export function pagerOf<T>(fetchPage: Fetch<T>): Pager<T> {
  const pager = new Pager(fetchPage);
  onMount(() => {
    void pager.more();
    return () => pager.dispose();
  });
  return pager;
}
