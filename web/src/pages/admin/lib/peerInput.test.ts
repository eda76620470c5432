import { describe, expect, it } from 'vitest';
import { peerInputHint, peerInputKind } from './peerInput';

const ID = 'ab'.repeat(32);

describe('peerInputKind', () => {
  it.each([
    [ID, 'node id'],
    [`  ${ID.toUpperCase()} `, 'node id'],
    [`${ID}@127.0.0.1:7070`, 'address'],
    [`${ID}@[::1]:7070`, 'address'],
    ['endpointabc123', 'ticket'],
    [ID.slice(1), null],
    [`${ID}@host`, null],
    ['hello', null],
  ])('%s is %s', (text, kind) => {
    expect(peerInputKind(text)).toBe(kind);
  });

  it('says when the text will be refused', () => {
    expect(peerInputHint('hello')).toMatch(/not a node id/);
    expect(peerInputHint('')).toMatch(/64 hex/);
  });
});
