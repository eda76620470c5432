/** Hash routes (``/#/albums/…``): the server serves one page and needs no fallback route. */
import { wrap } from 'svelte-spa-router/wrap';
import { session } from './lib/session.svelte';
import More from './pages/More.svelte';
import NotFound from './pages/NotFound.svelte';
import Favourites from './pages/favourites/Favourites.svelte';
import History from './pages/history/History.svelte';
import Album from './pages/library/Album.svelte';
import Albums from './pages/library/Albums.svelte';
import Artist from './pages/library/Artist.svelte';
import Artists from './pages/library/Artists.svelte';
import Tracks from './pages/library/Tracks.svelte';
import Playlist from './pages/playlists/Playlist.svelte';
import Playlists from './pages/playlists/Playlists.svelte';
import Search from './pages/search/Search.svelte';
import Upload from './pages/upload/Upload.svelte';

/** The admin pages load on demand (their code stays out of the listener's download), for administrators only. */
const admin = wrap({
  asyncComponent: () => import('./pages/admin/Admin.svelte'),
  conditions: [() => session.isAdmin],
});

/** The account page (with the QR encoder) loads on demand too: most visits never open it. */
const account = wrap({ asyncComponent: () => import('./pages/account/Account.svelte') });

export const routes = {
  '/': Tracks,
  '/tracks': Tracks,
  '/albums': Albums,
  '/albums/:id': Album,
  '/artists': Artists,
  '/artists/:id': Artist,
  '/search': Search,
  '/upload': Upload,
  '/playlists': Playlists,
  '/playlists/:id': Playlist,
  '/favourites/:kind?': Favourites,
  '/history/:view?': History,
  '/account': account,
  '/more': More,
  '/admin': admin,
  '/admin/*': admin,
  '*': NotFound,
};
