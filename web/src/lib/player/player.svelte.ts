/**
 * The player: one <audio> element (rendered by PlayerBar and attached here), the queue, and what the bar shows.
 * A track replicated from a peer plays like a local one; while the server fetches it from the peer the bar says
 * so, and when it fails the reason comes from the server (see failure.ts) instead of a silent stop.
 */
import type { Track } from '../../api/client';
import { api, renewAccess } from '../../api/client';
import { mediaUrl } from '../session.svelte';
import { probe } from './failure';
import { Listened } from './listened';
import { toSaved, type Offer, type Saved } from './saved';
import { Queue, type Entry, type Repeat } from './queue';

export type Phase = 'idle' | 'loading' | 'playing' | 'paused' | 'buffering' | 'error';

const VOLUME_KEY = 'soundtime.volume';
/** While playing, the saved queue's position is refreshed this often; queue changes are saved after SAVE_DELAY_MS. */
const SAVE_EVERY_MS = 15_000;
const SAVE_DELAY_MS = 1_500;
const SEEK_STEP = 10;

function storedVolume(): number {
  const value = Number(globalThis.localStorage?.getItem(VOLUME_KEY) ?? '1');
  return Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 1;
}

export class Player {
  track = $state.raw<Track | null>(null);
  phase = $state<Phase>('idle');
  position = $state(0);
  duration = $state(0);
  volume = $state(storedVolume());
  muted = $state(false);
  error = $state<string | null>(null);
  /** The server's explanation of ``error``, when it gave one. */
  errorDetail = $state('');
  /** When the server started fetching the current (remote) track from a peer; null once it plays. */
  fetchingSince = $state<number | null>(null);
  entries = $state.raw<Entry<Track>[]>([]);
  currentKey = $state<number | undefined>(undefined);
  repeat = $state<Repeat>('off');
  shuffled = $state(false);

  readonly queue: Queue<Track>;
  private audio: HTMLAudioElement | null = null;
  /** The current track got a retry with a renewed token and has not played since. */
  private retried = false;
  /** A queue saved on the server (by another device, or an earlier visit) that can be picked up. */
  offer = $state.raw<Offer | null>(null);
  /** Saves the queue on the server (none: not signed in, or unit tests); see ``persist``. */
  private save: ((saved: Saved) => Promise<unknown>) | null = null;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private savedAt = 0;
  /** How much of the current track has been heard (it counts as played past half, or four minutes). */
  private readonly listened = new Listened();

  /** ``record``: tells the server a track was played (the history); replaced in unit tests. */
  constructor(
    random: () => number = Math.random,
    private readonly record: (track: Track) => Promise<unknown> = (track) => api.post('/api/history', { body: { track_id: track.id } }),
  ) {
    this.queue = new Queue<Track>(random);
  }

  get playing(): boolean {
    return this.phase === 'playing' || this.phase === 'buffering' || this.phase === 'loading';
  }

  /** Bind the element PlayerBar renders; returns the function that detaches it. */
  attach(audio: HTMLAudioElement): () => void {
    this.audio = audio;
    audio.volume = this.volume;
    const on: Record<string, () => void> = {
      playing: () => {
        this.phase = 'playing';
        this.fetchingSince = null;
        this.error = null;
        this.retried = false; // a later expiry (a long track, a long pause) may renew again
      },
      pause: () => {
        if (this.phase !== 'error' && !audio.ended) this.phase = 'paused';
        this.saveSoon(0);
      },
      waiting: () => {
        this.phase = 'buffering';
        if (this.track && !this.track.is_local) this.fetchingSince ??= Date.now();
      },
      timeupdate: () => {
        this.position = audio.currentTime;
        if (!audio.paused && this.track && this.listened.update(audio.currentTime, this.duration)) this.played(this.track);
        if (!audio.paused && Date.now() - this.savedAt > SAVE_EVERY_MS) this.saveSoon(0);
        this.updatePositionState();
      },
      durationchange: () => {
        if (Number.isFinite(audio.duration)) this.duration = audio.duration;
      },
      volumechange: () => {
        this.volume = audio.volume;
        this.muted = audio.muted;
      },
      ended: () => this.advance(true),
      error: () => void this.failed(),
    };
    for (const [name, handler] of Object.entries(on)) audio.addEventListener(name, handler);
    this.installMediaSession();
    return () => {
      for (const [name, handler] of Object.entries(on)) audio.removeEventListener(name, handler);
      this.audio = null;
    };
  }

  /** Replace the queue with ``tracks`` and play the one at ``start``. */
  play(tracks: readonly Track[], start = 0): void {
    this.load(this.queue.replace(tracks, start));
  }

  enqueue(tracks: readonly Track[]): void {
    const wasEmpty = this.queue.current === undefined;
    this.queue.append(tracks);
    if (wasEmpty) this.load(this.queue.current);
    else this.sync();
  }

  playNext(tracks: readonly Track[]): void {
    const wasEmpty = this.queue.current === undefined;
    this.queue.playNext(tracks);
    if (wasEmpty) this.load(this.queue.current);
    else this.sync();
  }

  toggle(): void {
    const audio = this.audio;
    if (!audio || !this.track) return;
    if (this.phase === 'error') this.load(this.track, this.position);
    else if (audio.paused) this.start();
    else audio.pause();
  }

  next(): void {
    this.advance(false);
  }

  previous(): void {
    const { item, restart } = this.queue.previous(this.position);
    if (restart) this.seek(0);
    else this.load(item);
  }

  jump(key: number): void {
    this.load(this.queue.jump(key));
  }

  remove(key: number): void {
    const { removedCurrent, now } = this.queue.remove(key);
    if (removedCurrent) this.load(now, 0, this.playing);
    else this.sync();
  }

  /** Keep the queue saved through ``save`` from now on (null: stop, e.g. when signing out). */
  persist(save: ((saved: Saved) => Promise<unknown>) | null): void {
    clearTimeout(this.saveTimer);
    this.save = save;
  }

  /** Pick up the offered queue where it was left (paused there: the listener presses play). */
  resume(): void {
    const offer = this.offer;
    if (!offer) return;
    this.offer = null;
    this.load(this.queue.replace(offer.tracks, offer.index), offer.position, false);
  }

  clear(): void {
    this.queue.clear();
    this.load(undefined);
  }

  cycleRepeat(): void {
    this.queue.cycleRepeat();
    this.sync();
  }

  toggleShuffle(): void {
    this.queue.setShuffle(!this.queue.shuffled);
    this.sync();
  }

  seek(seconds: number): void {
    if (!this.audio || !this.track) return;
    const target = Math.min(Math.max(seconds, 0), this.duration || seconds);
    this.audio.currentTime = target;
    this.listened.seeked(target);
    this.position = target;
  }

  seekBy(delta: number = SEEK_STEP): void {
    this.seek(this.position + delta);
  }

  setVolume(volume: number): void {
    this.volume = Math.min(Math.max(volume, 0), 1);
    if (this.audio) {
      this.audio.volume = this.volume;
      this.audio.muted = false;
    }
    globalThis.localStorage?.setItem(VOLUME_KEY, String(this.volume));
  }

  toggleMute(): void {
    if (this.audio) this.audio.muted = !this.audio.muted;
  }

  /** The current track has been listened to: into the history (a failure costs one entry, nothing else). */
  private played(track: Track): void {
    this.record(track).catch(() => undefined);
  }

  private advance(ended: boolean): void {
    const item = this.queue.next(ended);
    if (item === undefined) {
      this.phase = 'paused';
      this.seek(0);
      this.sync();
      return;
    }
    this.load(item);
  }

  private load(track: Track | undefined, at = 0, autoplay = true): void {
    this.sync();
    const audio = this.audio;
    this.retried = track === this.track && this.retried;
    if (!this.retried) this.listened.reset();
    else this.listened.seeked(at);
    this.track = track ?? null;
    this.error = null;
    this.position = at;
    this.duration = track?.duration_secs ?? 0;
    this.fetchingSince = track && !track.is_local ? Date.now() : null;
    if (!audio) return;
    if (!track) {
      audio.removeAttribute('src');
      audio.load();
      this.phase = 'idle';
      this.describe(null);
      return;
    }
    this.phase = autoplay ? 'loading' : 'paused';
    audio.src = mediaUrl(track.stream_url);
    if (at > 0) audio.currentTime = at;
    if (autoplay) this.start();
    this.describe(track);
  }

  private start(): void {
    this.audio?.play().catch((error: unknown) => {
      // A newer load interrupted this one (AbortError): nothing to report. Autoplay refused: wait for a click.
      if (error instanceof DOMException && error.name === 'NotAllowedError') this.phase = 'paused';
    });
  }

  private async failed(): Promise<void> {
    const track = this.track;
    if (!track || !this.audio?.getAttribute('src')) return;
    const at = this.position;
    this.phase = 'loading';
    const failure = await probe(track.stream_url, !track.is_local, track.format);
    if (track !== this.track) return; // the listener moved on meanwhile
    if (failure.kind === 'expired' && !this.retried && (await renewAccess())) {
      this.retried = true;
      this.load(track, at);
      return;
    }
    this.phase = 'error';
    this.fetchingSince = null;
    this.error = failure.message;
    this.errorDetail = failure.detail;
  }

  /** Save the queue on the server after ``delay`` ms (changes in between are saved together). */
  private saveSoon(delay = SAVE_DELAY_MS): void {
    if (!this.save) return;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      const save = this.save;
      if (!save) return;
      this.savedAt = Date.now();
      const ids = this.queue.entries.map((entry) => entry.item.id);
      save(toSaved(ids, this.queue.index, this.position)).catch(() => undefined);
    }, delay);
  }

  private sync(): void {
    if (this.queue.entries.length > 0) this.offer = null;
    this.saveSoon();
    this.entries = [...this.queue.entries];
    this.currentKey = this.queue.currentKey;
    this.repeat = this.queue.repeat;
    this.shuffled = this.queue.shuffled;
  }

  private describe(track: Track | null): void {
    const session = globalThis.navigator?.mediaSession;
    if (!session) return;
    if (!track) {
      session.metadata = null;
      return;
    }
    session.metadata = new MediaMetadata({
      title: track.title,
      artist: track.artist.name,
      album: track.album?.title ?? '',
      artwork: track.cover_url ? [{ src: mediaUrl(track.cover_url) }] : [],
    });
  }

  private updatePositionState(): void {
    const session = globalThis.navigator?.mediaSession;
    if (!session?.setPositionState || !this.duration || this.position > this.duration) return;
    session.setPositionState({ duration: this.duration, position: this.position, playbackRate: 1 });
  }

  private installMediaSession(): void {
    const session = globalThis.navigator?.mediaSession;
    if (!session) return;
    const actions: [MediaSessionAction, MediaSessionActionHandler][] = [
      ['play', () => this.toggle()],
      ['pause', () => this.toggle()],
      ['previoustrack', () => this.previous()],
      ['nexttrack', () => this.next()],
      ['seekbackward', (details) => this.seekBy(-(details.seekOffset ?? SEEK_STEP))],
      ['seekforward', (details) => this.seekBy(details.seekOffset ?? SEEK_STEP)],
      ['seekto', (details) => this.seek(details.seekTime ?? 0)],
    ];
    for (const [action, handler] of actions) {
      try {
        session.setActionHandler(action, handler);
      } catch {
        // an action this browser does not support
      }
    }
  }
}

export const player = new Player();
