import { describe, expect, it } from 'vitest';
import { failureOf } from './failure';

describe('why a track does not play', () => {
  it('names each answer of the stream URL', () => {
    expect(failureOf(410, 'gone', true, 'flac')).toMatchObject({ kind: 'gone', message: expect.stringContaining('No peer holds') });
    expect(failureOf(503, 'no answer from 8012b40a within 10 s', true, 'flac')).toEqual({
      kind: 'unavailable',
      message: 'The peer holding this track is unreachable.',
      detail: 'no answer from 8012b40a within 10 s',
    });
    expect(failureOf(503, 'busy', false, 'mp3').message).toBe('The server is busy; try again.');
    expect(failureOf(401, '', false, 'mp3').kind).toBe('expired');
    expect(failureOf(404, '', false, 'mp3').kind).toBe('missing');
    expect(failureOf(0, '', false, 'mp3').kind).toBe('network');
  });

  it('a stream that answers but does not play is a format this browser lacks', () => {
    expect(failureOf(206, '', false, 'aiff')).toMatchObject({ kind: 'undecodable', message: 'This browser cannot play this AIFF file.' });
  });

  it('keeps the server message for anything else', () => {
    expect(failureOf(500, 'internal server error', false, 'mp3').message).toBe('internal server error');
    expect(failureOf(418, '', false, 'mp3').message).toBe('The server answered 418.');
  });
});
