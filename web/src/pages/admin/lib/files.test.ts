import { describe, expect, it } from 'vitest';
import { datedName, parseBlockList } from './files';

describe('parseBlockList', () => {
  it('reads an exported list', () => {
    const text = JSON.stringify([{ domain: 'a'.repeat(64), reason: 'spam' }, { domain: 'bad.example' }]);
    expect(parseBlockList(text)).toEqual([
      { domain: 'a'.repeat(64), reason: 'spam' },
      { domain: 'bad.example', reason: null },
    ]);
  });

  it.each([
    ['not json', /not JSON/],
    ['{"domain": "x"}', /not a block list/],
    ['[{"reason": "x"}]', /Entry 1 has no "domain"/],
    ['[{"domain": "x"}, {"domain": "  "}]', /Entry 2/],
    ['[{"domain": "x", "reason": 3}]', /not text/],
  ])('says what is wrong with %s', (text, message) => {
    expect(parseBlockList(text)).toMatch(message);
  });

  it('refuses more entries than the server takes', () => {
    expect(parseBlockList(JSON.stringify(Array.from({ length: 1001 }, () => ({ domain: 'x.example' }))))).toMatch(/at most 1000/);
  });
});

it('names exports by date', () => {
  expect(datedName('soundtime-blocks', new Date('2026-12-03T10:00:00Z'))).toBe('soundtime-blocks-2026-12-03.json');
});
