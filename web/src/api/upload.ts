/** One file to POST /api/upload with XMLHttpRequest: fetch() cannot report upload progress. */
import { accessToken } from './client';

export interface Sent {
  /** HTTP status; 0 when no answer came (network down, aborted). */
  status: number;
  /** The parsed JSON answer, or null. */
  body: unknown;
}

export async function sendFile(file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<Sent> {
  const token = await accessToken();
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/api/upload');
    request.responseType = 'json';
    if (token) request.setRequestHeader('Authorization', `Bearer ${token}`);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    request.onload = () => resolve({ status: request.status, body: request.response as unknown });
    request.onerror = () => resolve({ status: 0, body: null });
    request.onabort = () => resolve({ status: 0, body: null });
    signal?.addEventListener('abort', () => request.abort(), { once: true });
    const form = new FormData();
    form.append('file', file, file.name);
    request.send(form);
  });
}
