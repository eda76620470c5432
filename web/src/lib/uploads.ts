/** The server's verdict on an uploaded file, from its HTTP answer (201 imported, 200 duplicate, 4xx refused). */
import type { Track, UploadResult } from '../api/client';

export type Verdict =
  | { kind: 'imported'; track: Track | null; message: string }
  | { kind: 'duplicate'; track: Track | null; message: string }
  | { kind: 'refused'; code: string; message: string; retryable: boolean };

interface ErrorBody {
  error?: { code?: string; message?: string };
}

const RETRYABLE = new Set([0, 408, 429, 502, 503, 504]);

export function verdictOf(status: number, body: unknown): Verdict {
  if (status === 201 || status === 200) {
    const result = body as UploadResult | null;
    const track = result?.track ?? null;
    const kind = status === 201 ? 'imported' : 'duplicate';
    const what = track ? `${track.title} · ${track.artist.name}` : null;
    const message =
      kind === 'imported'
        ? (what ?? (result?.message || 'imported'))
        : what
          ? `already in the library as ${what}`
          : result?.message || 'already in the library';
    return { kind, track, message };
  }
  const error = (body as ErrorBody | null)?.error;
  if (status === 0) {
    return { kind: 'refused', code: 'network', message: 'the upload was interrupted (no answer from the server)', retryable: true };
  }
  return {
    kind: 'refused',
    code: error?.code ?? `http_${status}`,
    message: error?.message ?? `the server answered ${status}`,
    retryable: RETRYABLE.has(status),
  };
}

/** Totals for the summary line. */
export function tally(verdicts: readonly (Verdict | null)[]): Record<Verdict['kind'] | 'pending', number> {
  const counts = { imported: 0, duplicate: 0, refused: 0, pending: 0 };
  for (const verdict of verdicts) counts[verdict ? verdict.kind : 'pending'] += 1;
  return counts;
}
