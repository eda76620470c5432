import { describe, expect, it } from 'vitest';
import { Pager, pageSize, type Page } from './pager.svelte';

function pages(...all: Page<number>[]): { fetch: (cursor: string | null) => Promise<Page<number>>; asked: (string | null)[] } {
  const asked: (string | null)[] = [];
  return {
    asked,
    fetch: async (cursor) => {
      asked.push(cursor);
      const page = all[asked.length - 1];
      if (!page) throw new Error('the server is down');
      return page;
    },
  };
}

describe('Pager', () => {
  it('follows next_cursor page after page and stops at the last page', async () => {
    const source = pages({ items: [1, 2], next_cursor: 'c1' }, { items: [3], next_cursor: null });
    const pager = new Pager(source.fetch);
    await pager.more();
    expect(pager.items).toEqual([1, 2]);
    expect(pager.done).toBe(false);
    await pager.more();
    await pager.more();
    expect(pager.items).toEqual([1, 2, 3]);
    expect(pager.done).toBe(true);
    expect(source.asked).toEqual([null, 'c1']);
  });

  it('starts again from the first page after a reset', async () => {
    const source = pages({ items: [1], next_cursor: 'c1' }, { items: [9, 1], next_cursor: null });
    const pager = new Pager(source.fetch);
    await pager.more();
    await pager.reset();
    expect(pager.items).toEqual([9, 1]);
    expect(pager.done).toBe(true);
    expect(source.asked).toEqual([null, null]);
  });

  it('loads one page at a time however often it is asked', async () => {
    const source = pages({ items: [1], next_cursor: 'c1' }, { items: [2], next_cursor: null });
    const pager = new Pager(source.fetch);
    await Promise.all([pager.more(), pager.more(), pager.more()]);
    expect(source.asked).toEqual([null]);
  });

  it('an empty first page is an empty list', async () => {
    const pager = new Pager(pages({ items: [], next_cursor: null }).fetch);
    await pager.more();
    expect(pager.empty).toBe(true);
  });

  it('keeps the error and the rows until retried, then resumes from the same cursor', async () => {
    let fail = true;
    const asked: (string | null)[] = [];
    const pager = new Pager<number>(async (cursor) => {
      asked.push(cursor);
      if (cursor === 'c1' && fail) throw new Error('the server is down');
      return cursor === null ? { items: [1], next_cursor: 'c1' } : { items: [2], next_cursor: null };
    });
    await pager.more();
    await pager.more();
    expect(pager.error).toBe('the server is down');
    await pager.more(); // no retry storm while the error is shown
    expect(asked).toEqual([null, 'c1']);
    fail = false;
    await pager.retry();
    expect(pager.items).toEqual([1, 2]);
    expect(pager.error).toBeNull();
  });

  it('ignores an answer that arrives after it was disposed', async () => {
    let release: (page: Page<number>) => void = () => {};
    const pager = new Pager<number>(() => new Promise((resolve) => (release = resolve)));
    const loading = pager.more();
    pager.dispose();
    release({ items: [1], next_cursor: null });
    await loading;
    expect(pager.items).toEqual([]);
  });
});

describe('page sizes', () => {
  it('asks for a small first page, then bigger ones', () => {
    expect(pageSize(null)).toBe(50);
    expect(pageSize('c1')).toBe(200);
  });
});
