/**
 * Conditional GETs for the routes that carry a strong ETag (node status, peer list, network graph): a poll
 * sends ``If-None-Match`` and an unchanged answer is a 304 with no body, so nothing is parsed or redrawn.
 */
import { ApiError, accessToken, errorOf, renewAccess } from '../../../api/client';
import type { paths } from '../../../api/schema';

export type EtagPath = '/api/p2p/network-graph' | '/api/p2p/status' | '/api/admin/p2p/peers';
type OkBody<P extends EtagPath> = paths[P]['get'] extends { responses: { 200: { content: { 'application/json': infer T } } } }
  ? T
  : never;

export interface Fresh<T> {
  etag: string | null;
  value: T;
}

/** The current answer, or null when it still matches ``etag`` (304). */
export async function getIfChanged<P extends EtagPath>(path: P, etag: string | null, signal?: AbortSignal): Promise<Fresh<OkBody<P>> | null> {
  const attempt = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = await accessToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (etag) headers['If-None-Match'] = etag;
    try {
      // no-store: the 304 reaches this code instead of being answered from the browser's cache.
      return await fetch(path, { headers, signal, cache: 'no-store', credentials: 'same-origin' });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new ApiError(0, 'network', 'cannot reach the server; check your connection');
    }
  };
  let response = await attempt();
  if (response.status === 401 && (await renewAccess())) response = await attempt();
  if (response.status === 304) return null;
  if (!response.ok) throw await errorOf(response);
  return { etag: response.headers.get('ETag'), value: (await response.json()) as OkBody<P> };
}
