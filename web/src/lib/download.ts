/** Handing a file to the browser's downloads (an export). */
import { accessToken, errorOf } from '../api/client';

/** Offer ``blob`` as a download named ``name``. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Download what the API answers at ``path`` (signed in) as a file named ``name``. */
export async function downloadFrom(path: string, name: string): Promise<void> {
  const token = await accessToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {}, credentials: 'same-origin' });
  if (!response.ok) throw await errorOf(response);
  saveBlob(await response.blob(), name);
}

/** A file name made of ``title`` (characters file systems refuse replaced) and ``extension``. */
export function fileName(title: string, extension: string): string {
  const base = title.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '_').trim().slice(0, 120) || 'playlist';
  return `${base}.${extension}`;
}
