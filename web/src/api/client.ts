/**
 * The one API client of the app. Paths, parameters, bodies and answers are typed from the server's OpenAPI
 * description (schema.d.ts is generated from /openapi.json by `make check`), so a call to a route or a field
 * that does not exist fails svelte-check.
 */
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Track = Schemas['TrackOut'];
export type Album = Schemas['AlbumOut'];
export type AlbumDetail = Schemas['AlbumDetail'];
export type Artist = Schemas['ArtistOut'];
export type ArtistDetail = Schemas['ArtistDetail'];
export type User = Schemas['UserOut'];
export type TokenPair = Schemas['TokenPair'];
export type SearchResults = Schemas['SearchResults'];
export type P2PTrack = Schemas['P2PTrack'];
export type UploadResult = Schemas['UploadResult'];
export type Playlist = Schemas['PlaylistOut'];
export type PlaylistDetail = Schemas['PlaylistDetail'];
export type Play = Schemas['PlayOut'];
export type MostPlayed = Schemas['MostPlayed'];

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
/** The paths that have an operation for method ``M``. */
export type PathsFor<M extends Method> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];

type Json<R> = R extends { content: { 'application/json': infer T } } ? T : null;
type Answer<O> = O extends { responses: infer R }
  ? R extends { 200: infer S }
    ? Json<S>
    : R extends { 201: infer S }
      ? Json<S>
      : R extends { 202: infer S }
        ? Json<S>
        : null
  : never;
type Parameters_<O> = O extends { parameters: infer P } ? P : never;
type Query<O> = Parameters_<O> extends { query?: infer Q } ? Q : never;
type PathParameters<O> = Parameters_<O> extends { path: infer P } ? P : never;
type Body<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export interface Options<O> {
  query?: Query<O>;
  path?: PathParameters<O>;
  body?: Body<O>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send no access token (sign-in, registration, refresh: they must not wait for a renewal). */
  anonymous?: boolean;
}
/** Options are required when the path has parameters. */
type Args<O> = [PathParameters<O>] extends [never] ? [options?: Options<O>] : [options: Options<O> & { path: PathParameters<O> }];

/** An error answered by the server (its ``{"error": {code, message}}`` body), or ``network`` when none came. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** How the client gets a current access token, and renews it once after a 401. */
export interface Auth {
  token(): Promise<string | null>;
  renew(): Promise<boolean>;
}
let auth: Auth = { token: async () => null, renew: async () => false };

export function useAuth(hooks: Auth): void {
  auth = hooks;
}

/** The current access token (renewed first when it is about to expire), for requests made outside ``api``. */
export function accessToken(): Promise<string | null> {
  return auth.token();
}

/** Renew the access token after a 401; false when the session is over. */
export function renewAccess(): Promise<boolean> {
  return auth.renew();
}

/** ``/api/albums/{album_id}`` with ``{album_id: 'x'}`` → ``/api/albums/x`` (parameters URL-encoded). */
export function fillPath(template: string, parameters: Record<string, unknown> = {}): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const value = parameters[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}

function queryString(query: object | undefined): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The error a failed response describes (the server's own code and message when it sent them). */
export async function errorOf(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = response.statusText || `the server answered ${response.status}`;
  let details: unknown = null;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
    details = body.error?.details ?? null;
  } catch {
    // not our JSON (a proxy's page, an empty body): keep the HTTP status text
  }
  return new ApiError(response.status, code, message, details);
}

async function send(method: string, template: string, options: Options<unknown> = {}): Promise<unknown> {
  const url = fillPath(template, options.path as Record<string, unknown> | undefined) + queryString(options.query as object);
  const attempt = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    const token = options.anonymous ? null : await auth.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await fetch(url, { method, headers, body, signal: options.signal, credentials: 'same-origin' });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new ApiError(0, 'network', 'cannot reach the server; check your connection');
    }
  };
  let response = await attempt();
  if (response.status === 401 && !options.anonymous && (await auth.renew())) {
    response = await attempt();
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get<P extends PathsFor<'get'>>(path: P, ...[options]: Args<Operation<P, 'get'>>) {
    return send('GET', path, options as Options<unknown>) as Promise<Answer<Operation<P, 'get'>>>;
  },
  post<P extends PathsFor<'post'>>(path: P, ...[options]: Args<Operation<P, 'post'>>) {
    return send('POST', path, options as Options<unknown>) as Promise<Answer<Operation<P, 'post'>>>;
  },
  put<P extends PathsFor<'put'>>(path: P, ...[options]: Args<Operation<P, 'put'>>) {
    return send('PUT', path, options as Options<unknown>) as Promise<Answer<Operation<P, 'put'>>>;
  },
  patch<P extends PathsFor<'patch'>>(path: P, ...[options]: Args<Operation<P, 'patch'>>) {
    return send('PATCH', path, options as Options<unknown>) as Promise<Answer<Operation<P, 'patch'>>>;
  },
  delete<P extends PathsFor<'delete'>>(path: P, ...[options]: Args<Operation<P, 'delete'>>) {
    return send('DELETE', path, options as Options<unknown>) as Promise<Answer<Operation<P, 'delete'>>>;
  },
};

/** A human sentence for any error (for error states and toasts). */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
