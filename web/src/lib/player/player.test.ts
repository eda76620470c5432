import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Track } from '../../api/client';
import { signIn } from '../session.svelte';
import { Player } from './player.svelte';

/** What the player uses of an <audio> element, driven by the test. */
class FakeAudio extends EventTarget {
  src = '';
  currentTime = 0;
  duration = Number.NaN;
  paused = true;
  ended = false;
  volume = 1;
  muted = false;
  play = vi.fn(async () => {
    this.paused = false;
  });
  pause(): void {
    this.paused = true;
    this.emit('pause');
  }
  load(): void {}
  removeAttribute(name: string): void {
    if (name === 'src') this.src = '';
  }
  getAttribute(name: string): string | null {
    return name === 'src' && this.src ? this.src : null;
  }
  emit(name: string): void {
    this.dispatchEvent(new Event(name));
  }
}

function track(id: string, local = true): Track {
  return {
    id,
    title: `Track ${id}`,
    artist: { id: 'a', name: 'Artist' },
    album: null,
    is_local: local,
    format: 'flac',
    duration_secs: 200,
    stream_url: `/api/tracks/${id}/stream`,
    cover_url: null,
  } as unknown as Track;
}

function pair(token: string) {
  return { access_token: token, refresh_token: null, token_type: 'bearer', expires_in: 900, user: { username: 'alice', role: 'user' } };
}

let issued = 0;

/** The server: sign-in and refresh hand out new tokens; the stream URL answers ``stream`` (status, body). */
function server(stream: { status: number; body?: unknown }) {
  return vi.fn(async (url: string) => {
    if (url.startsWith('/api/auth/')) return Response.json(pair(`token-${++issued}`));
    return Response.json(stream.body ?? {}, { status: stream.status });
  });
}

describe('Player', () => {
  let audio: FakeAudio;
  let player: Player;

  beforeEach(async () => {
    vi.stubGlobal('fetch', server({ status: 200 }));
    await signIn('alice', 'a long password');
    audio = new FakeAudio();
    player = new Player();
    player.attach(audio as unknown as HTMLAudioElement);
  });

  afterEach(() => vi.unstubAllGlobals());

  it('streams with the access token in the URL and follows the element through loading and playing', () => {
    player.play([track('1'), track('2')]);
    expect(audio.src).toBe(`/api/tracks/1/stream?token=token-${issued}`);
    expect(audio.play).toHaveBeenCalled();
    expect(player.phase).toBe('loading');
    audio.emit('playing');
    expect(player.phase).toBe('playing');
    audio.currentTime = 12;
    audio.emit('timeupdate');
    expect(player.position).toBe(12);
  });

  it('says a remote track is being fetched from a peer until it plays', () => {
    player.play([track('r', false)]);
    expect(player.fetchingSince).not.toBeNull();
    audio.emit('waiting');
    expect(player.phase).toBe('buffering');
    audio.emit('playing');
    expect(player.fetchingSince).toBeNull();
  });

  it('moves on when a track ends, and stops at the end of the queue', () => {
    player.play([track('1'), track('2')]);
    audio.emit('ended');
    expect(player.track?.id).toBe('2');
    expect(audio.src).toContain('/api/tracks/2/stream');
    audio.emit('ended');
    expect(player.track?.id).toBe('2');
    expect(player.phase).toBe('paused');
  });

  it('explains a failure with what the server answers for the stream', async () => {
    vi.stubGlobal('fetch', server({ status: 410, body: { error: { code: 'gone', message: 'dereferenced' } } }));
    player.play([track('r', false)]);
    audio.emit('error');
    await vi.waitFor(() => expect(player.phase).toBe('error'));
    expect(player.error).toBe('No peer holds this track any more (dereferenced).');
    expect(player.errorDetail).toBe('dereferenced');
    expect(player.fetchingSince).toBeNull();
  });

  it('renews an expired token and resumes where it was, once until the track plays again', async () => {
    vi.stubGlobal('fetch', server({ status: 401, body: { error: { code: 'invalid_token', message: 'expired' } } }));
    player.play([track('1')]);
    const renewed = `/api/tracks/1/stream?token=token-${issued + 1}`;
    audio.currentTime = 42;
    audio.emit('timeupdate');
    audio.emit('error');
    await vi.waitFor(() => expect(audio.src).toBe(renewed));
    expect(audio.currentTime).toBe(42);
    expect(player.phase).toBe('loading');

    audio.emit('playing'); // it played: a later expiry may be renewed again
    const again = `/api/tracks/1/stream?token=token-${issued + 1}`;
    audio.emit('error');
    await vi.waitFor(() => expect(audio.src).toBe(again));

    audio.emit('error'); // refused again before it played: no second retry, an error instead
    await vi.waitFor(() => expect(player.phase).toBe('error'));
    expect(player.error).toBe('Your session expired.');
  });

  it('records a play in the history once half the track was heard, not for paused or skipped time', () => {
    const record = vi.fn(async () => null);
    player = new Player(Math.random, record);
    player.attach(audio as unknown as HTMLAudioElement);
    player.play([track('1'), track('2')]); // 200 s each: 100 s to hear
    audio.paused = false;
    const at = (seconds: number) => {
      audio.currentTime = seconds;
      audio.emit('timeupdate');
    };
    for (let second = 0; second <= 60; second += 1) at(second);
    player.seek(150); // skipped: 90 s do not count
    for (let second = 150; second <= 180; second += 1) at(second);
    expect(record).not.toHaveBeenCalled();
    audio.paused = true;
    at(190); // not playing
    audio.paused = false;
    for (let second = 190; second <= 200; second += 1) at(second);
    expect(record).toHaveBeenCalledTimes(1);
    expect(record).toHaveBeenCalledWith(expect.objectContaining({ id: '1' }));
    audio.emit('ended');
    for (let second = 0; second <= 100; second += 1) at(second);
    expect(record).toHaveBeenCalledTimes(2);
    expect(record).toHaveBeenLastCalledWith(expect.objectContaining({ id: '2' }));
  });

  it('remembers the volume and keeps it between 0 and 1', () => {
    player.setVolume(1.7);
    expect(audio.volume).toBe(1);
    player.setVolume(0.25);
    expect(audio.volume).toBe(0.25);
    expect(localStorage.getItem('soundtime.volume')).toBe('0.25');
    expect(new Player().volume).toBe(0.25);
  });
});
