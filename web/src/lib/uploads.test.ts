import { describe, expect, it } from 'vitest';
import { tally, verdictOf } from './uploads';

describe('upload verdicts', () => {
  it('201 is imported and 200 a duplicate, named by the track the server made or found', () => {
    const track = { title: 'Driftwood', artist: { name: 'The Quiet Harbour' } };
    expect(verdictOf(201, { status: 'imported', message: 'imported', track })).toMatchObject({
      kind: 'imported',
      message: 'Driftwood · The Quiet Harbour',
    });
    expect(verdictOf(200, { status: 'duplicate', message: 'duplicate', track })).toMatchObject({
      kind: 'duplicate',
      message: 'already in the library as Driftwood · The Quiet Harbour',
    });
    expect(verdictOf(200, { status: 'duplicate', message: 'identical audio is already in the library' })).toEqual({
      kind: 'duplicate',
      track: null,
      message: 'identical audio is already in the library',
    });
  });

  it('a refusal carries the server code and reason', () => {
    const body = { error: { code: 'unsupported_media_type', message: 'not an audio file' } };
    expect(verdictOf(415, body)).toEqual({
      kind: 'refused',
      code: 'unsupported_media_type',
      message: 'not an audio file',
      retryable: false,
    });
    expect(verdictOf(413, { error: { code: 'too_large', message: 'too big' } })).toMatchObject({ retryable: false });
  });

  it('no answer or an overloaded server may be retried; a body that is not ours still gives a reason', () => {
    expect(verdictOf(0, null)).toMatchObject({ kind: 'refused', code: 'network', retryable: true });
    expect(verdictOf(503, null)).toEqual({
      kind: 'refused',
      code: 'http_503',
      message: 'the server answered 503',
      retryable: true,
    });
  });

  it('counts verdicts and pending files', () => {
    const imported = verdictOf(201, null);
    const refused = verdictOf(422, null);
    expect(tally([imported, imported, refused, null])).toEqual({ imported: 2, duplicate: 0, refused: 1, pending: 1 });
  });
});
