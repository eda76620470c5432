/**
 * Who is signed in, and the access token.
 *
 * The access token lives only in this module's memory (never in localStorage, sessionStorage or a readable
 * cookie): a reload forgets it and gets a new one from the refresh token, which the server keeps in an HttpOnly,
 * SameSite=Strict cookie scoped to /api/auth (see soundtime/auth/cookies.py). Media elements, which cannot send
 * headers, get the access token as ``?token=`` (the server keeps it out of its logs).
 */
import { ApiError, api, useAuth, type TokenPair, type User } from '../api/client';

/** The auth routes: no access token sent, and the refresh token in the server's HttpOnly cookie, not the JSON. */
const COOKIE_MODE = { headers: { 'X-Refresh-Cookie': 'true' }, anonymous: true };
/** Renew this long before the access token expires (clock skew, a slow network). */
const RENEW_MARGIN_MS = 60_000;

type Status = 'starting' | 'offline' | 'signed-out' | 'signed-in';

class Session {
  status = $state<Status>('starting');
  user = $state<User | null>(null);
  /** Why the last session ended without the user signing out (shown on the sign-in page). */
  ended = $state<string | null>(null);
  isAdmin = $derived(this.user?.role === 'admin');
}

export const session = new Session();

let token: string | null = null;
let expiresAt = 0;
let renewal: Promise<boolean> | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function accept(pair: TokenPair): void {
  token = pair.access_token;
  expiresAt = Date.now() + pair.expires_in * 1000;
  session.user = pair.user;
  session.status = 'signed-in';
  session.ended = null;
  clearTimeout(timer);
  timer = setTimeout(() => void renew(), Math.max(pair.expires_in * 1000 - RENEW_MARGIN_MS, 5_000));
}

function end(reason: string | null): void {
  token = null;
  expiresAt = 0;
  clearTimeout(timer);
  session.user = null;
  session.status = 'signed-out';
  session.ended = reason;
}

/** At start-up: resume the session the refresh cookie holds, if any. */
export async function restore(): Promise<void> {
  try {
    accept(await api.post('/api/auth/refresh', COOKIE_MODE));
  } catch (error) {
    if (error instanceof ApiError && error.status === 0) {
      session.status = 'offline';
      return;
    }
    end(null);
  }
}

export async function signIn(username: string, password: string): Promise<void> {
  accept(await api.post('/api/auth/login', { ...COOKIE_MODE, body: { username, password } }));
}

export async function register(username: string, password: string): Promise<void> {
  accept(await api.post('/api/auth/register', { ...COOKIE_MODE, body: { username, password } }));
}

export async function signOut(): Promise<void> {
  try {
    await api.post('/api/auth/logout', COOKIE_MODE);
  } finally {
    end(null);
  }
}

/** A new access token from the refresh cookie; concurrent callers share one request. */
export function renew(): Promise<boolean> {
  renewal ??= (async () => {
    try {
      accept(await api.post('/api/auth/refresh', COOKIE_MODE));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 0) return false; // offline: keep the session
      end('Your session ended. Please sign in again.');
      return false;
    } finally {
      renewal = null;
    }
  })();
  return renewal;
}

async function current(): Promise<string | null> {
  if (token && Date.now() > expiresAt - RENEW_MARGIN_MS / 2) await renew();
  return token;
}

/** A media URL (stream, cover) with the access token, for elements that cannot send an Authorization header. */
export function mediaUrl(url: string): string {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

useAuth({ token: current, renew });
