/**
 * Why a track does not play. An <audio> element only says "error"; asking the server for the first byte of the
 * same URL gets the real answer (410 dereferenced, 503 no peer could provide it, 401 token expired, ...).
 */
import { accessToken, errorOf } from '../../api/client';

export type FailureKind = 'expired' | 'gone' | 'unavailable' | 'missing' | 'undecodable' | 'network' | 'other';

export interface Failure {
  kind: FailureKind;
  /** One short sentence for the player bar. */
  message: string;
  /** The server's own explanation, when it gave one (shown on hover, read by screen readers). */
  detail: string;
}

/** Give up on the probe after this long (a peer may take a while to answer: the server bounds its own wait). */
const PROBE_TIMEOUT_MS = 30_000;

/** What an HTTP answer to the stream URL means for the listener. */
export function failureOf(status: number, detail: string, remote: boolean, format: string): Failure {
  const failure = (kind: FailureKind, message: string): Failure => ({ kind, message, detail });
  switch (status) {
    case 0:
      return failure('network', 'Cannot reach the server.');
    case 200:
    case 206:
      return failure('undecodable', `This browser cannot play this ${format.toUpperCase()} file.`);
    case 401:
      return failure('expired', 'Your session expired.');
    case 404:
      return failure('missing', 'This track is no longer in the library.');
    case 410:
      return failure('gone', 'No peer holds this track any more (dereferenced).');
    case 503:
      return failure('unavailable', remote ? 'The peer holding this track is unreachable.' : 'The server is busy; try again.');
    default:
      return failure('other', detail || `The server answered ${status}.`);
  }
}

/** Ask the server for the first byte of ``streamUrl`` (with the Authorization header) and explain the answer. */
export async function probe(streamUrl: string, remote: boolean, format: string): Promise<Failure> {
  const token = await accessToken();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
  try {
    const response = await fetch(streamUrl, {
      headers: { Range: 'bytes=0-0', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      signal: controller.signal,
    });
    if (response.ok) {
      await response.body?.cancel();
      return failureOf(response.status, '', remote, format);
    }
    const error = await errorOf(response);
    return failureOf(response.status, error.message, remote, format);
  } catch {
    return failureOf(0, '', remote, format);
  } finally {
    clearTimeout(timer);
  }
}
