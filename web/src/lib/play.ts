/** Playing what a page shows but has not loaded: an album's or an artist's tracks. */
import { api } from '../api/client';
import { player } from './player/player.svelte';

export async function playAlbum(albumId: string): Promise<void> {
  const album = await api.get('/api/albums/{album_id}', { path: { album_id: albumId } });
  player.play(album.tracks);
}
